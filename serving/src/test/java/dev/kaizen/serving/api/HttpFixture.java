package dev.kaizen.serving.api;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;

import ai.djl.Device;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.checkpoints.CheckpointStore;
import dev.kaizen.embeddedkafka.EmbeddedKafka;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.serving.Announcements;
import dev.kaizen.serving.follow.KafkaClients;
import dev.kaizen.serving.follow.ModelFollower;
import dev.kaizen.serving.follow.VersionFollower;

/**
 * What the HTTP tests serve: a tiny model whose version 1 is stored and announced on a real
 * broker, and a candidate after it that the release gate refused, followed as serving follows
 * them; and what they read back from the responses topic.
 */
final class HttpFixture {

    static final String REFUSAL = "eval-gate: golden-nll rose 0.3812 nats/token (6.3751 -> 6.7563), over the allowed 0.0500";

    private HttpFixture() {}

    static ModelFollower follower(EmbeddedKafka kafka, Path tmp) throws IOException {
        Path base = tmp.resolve("base");
        ModelPresets.TINY.write(base, 5);
        CheckpointStore store = new CheckpointStore(tmp.resolve("store").toUri().toString());
        kafka.createTopics(1, "model-updates", "model-rejections", "chat-responses", "chat-feedback");
        try (LlamaForCausalLM trainer = LlamaForCausalLM.load(base, Device.cpu())) {
            Announcements announcements = new Announcements(trainer, store, tmp, kafka.bootstrapServers());
            announcements.send("model-updates", true, announcements.version(1, 0, 1));
            announcements.send("model-rejections", true, ModelUpdate.newBuilder(announcements.version(2, 1, 2))
                    .setRejectionReason(REFUSAL).build());
        }
        return ModelFollower.start(new ModelFollower.Options(base,
                new VersionFollower.Options("tiny", KafkaClients.of(kafka.bootstrapServers()), "model-updates", store.root(),
                        "model-rejections"), Device.cpu()));
    }

    /** The answer logged under {@code responseId}, waiting for it up to 30 s. */
    static ResponseLogged logged(EmbeddedKafka kafka, String responseId) {
        WireCodec<ResponseLogged> codec = WireCodec.responses(Clock.systemUTC());
        return kafka.readCommitted(List.of("chat-responses"), records -> records.stream()
                        .anyMatch(r -> ((Decoded.Valid<ResponseLogged>) codec.decode(r)).value().getResponseId().equals(responseId)),
                Duration.ZERO, Duration.ofSeconds(30)).stream()
                .map(r -> ((Decoded.Valid<ResponseLogged>) codec.decode(r)).value())
                .filter(r -> r.getResponseId().equals(responseId)).findFirst().orElseThrow();
    }
}
