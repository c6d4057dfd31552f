package dev.kaizen.serving.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.checkpoints.CheckpointStore;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ReleaseDecision;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.serving.Announcements;
import dev.kaizen.serving.follow.KafkaClients;
import dev.kaizen.serving.follow.VersionFollower;
import dev.kaizen.testkit.EmbeddedKafkaExtension;

/** The rollout against a recording stand-in for vLLM's runtime LoRA API on loopback (vLLM itself cannot run here). */
class VllmRolloutTest {

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @TempDir
    Path tmp;

    /** Records every call; answers 500 to a load while the name has failures left. */
    static final class RecordingVllm implements AutoCloseable {
        final List<String> calls = Collections.synchronizedList(new ArrayList<>());
        final Map<String, Integer> failuresLeft = new ConcurrentHashMap<>();
        final Map<String, String> paths = new ConcurrentHashMap<>();
        final HttpServer server;

        RecordingVllm() throws IOException {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            for (String route : List.of("/v1/load_lora_adapter", "/v1/unload_lora_adapter")) {
                server.createContext(route, exchange -> {
                    JsonNode body = new ObjectMapper().readTree(exchange.getRequestBody());
                    String name = body.get("lora_name").asText();
                    boolean load = route.contains("/load");
                    boolean fail = load && failuresLeft.containsKey(name) && failuresLeft.merge(name, -1, Integer::sum) >= 0;
                    calls.add((load ? "load " : "unload ") + name + (fail ? " -> 500" : ""));
                    if (load && !fail) {
                        paths.put(name, body.get("lora_path").asText());
                    }
                    byte[] answer = (fail ? "{\"error\":\"injected\"}" : "Success").getBytes(StandardCharsets.UTF_8);
                    exchange.sendResponseHeaders(fail ? 500 : 200, answer.length);
                    exchange.getResponseBody().write(answer);
                    exchange.close();
                });
            }
            server.start();
        }

        URI url() {
            return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    @Test
    void eachVerifiedVersionIsLoadedBeforeTheOldOneIsUnloadedAndAFailedLoadNeverUnloads() throws Exception {
        Path base = tmp.resolve("base");
        ModelPresets.TINY.write(base, 5);
        CheckpointStore store = new CheckpointStore(tmp.resolve("store").toUri().toString());
        KAFKA.kafka().createTopics(1, "model-updates");
        Path adapters = Files.createDirectories(tmp.resolve("vllm-adapters"));
        try (LlamaForCausalLM trainer = LlamaForCausalLM.load(base, Device.cpu()); RecordingVllm vllm = new RecordingVllm()) {
            Announcements announce = new Announcements(trainer, store, tmp, KAFKA.kafka().bootstrapServers());
            announce.send("model-updates", true, announce.version(1, 0, 1));
            vllm.failuresLeft.put("tiny-v2", 1);
            vllm.failuresLeft.put("tiny-v3", 100);
            VllmRollout rollout = new VllmRollout(new VllmRollout.Options(vllm.url(), adapters, "tiny", null, 3, Duration.ofMillis(10)));
            try (VersionFollower follower = VersionFollower.start(new VersionFollower.Options("tiny", KafkaClients.of(KAFKA.kafka().bootstrapServers()),
                    "model-updates", store.root()), rollout)) {
                assertThat(rollout.version()).isEqualTo(1);
                announce.send("model-updates", true, announce.version(2, 1, 2));
                await(() -> rollout.version() == 2);
                ModelUpdate v3 = announce.version(3, 2, 3);
                announce.send("model-updates", true, v3);
                await(() -> follower.refusals().getOrDefault("target", 0L) == 1);
                assertThat(rollout.version()).as("v2 stays loaded").isEqualTo(2);
                ModelUpdate v4 = announce.version(4, 3, 4);
                announce.send("model-updates", true, v4);
                await(() -> rollout.version() == 4);

                assertThat(vllm.calls).containsExactly(
                        "load tiny-v1",
                        "load tiny-v2 -> 500", "load tiny-v2", "unload tiny-v1",
                        "load tiny-v3 -> 500", "load tiny-v3 -> 500", "load tiny-v3 -> 500",
                        "load tiny-v4", "unload tiny-v2");
                Path loaded = Path.of(vllm.paths.get("tiny-v4"));
                assertThat(loaded).isEqualTo(adapters.resolve("tiny-v4"));
                assertThat(CheckpointStore.describe(loaded).sha256()).as("vLLM reads the verified files").isEqualTo(v4.getSha256());
            }
        }
    }

    @Test
    void aCanaryIsLoadedBesideThePromotedReleaseUnloadedWhenRolledBackAndKeptWhenPromoted() throws Exception {
        Path base = tmp.resolve("base");
        ModelPresets.TINY.write(base, 5);
        CheckpointStore store = new CheckpointStore(tmp.resolve("store").toUri().toString());
        KAFKA.kafka().createTopics(1, "canary-updates", "canary-releases");
        Path adapters = Files.createDirectories(tmp.resolve("vllm-adapters"));
        try (LlamaForCausalLM trainer = LlamaForCausalLM.load(base, Device.cpu()); RecordingVllm vllm = new RecordingVllm()) {
            Announcements announce = new Announcements(trainer, store, tmp, KAFKA.kafka().bootstrapServers());
            announce.send("canary-updates", true, announce.version(1, 0, 1),
                    ModelUpdate.newBuilder(announce.version(2, 1, 2)).setCanary(true).build());
            VllmRollout rollout = new VllmRollout(new VllmRollout.Options(vllm.url(), adapters, "tiny", null, 3, Duration.ofMillis(10)));
            try (VersionFollower follower = VersionFollower.start(new VersionFollower.Options("tiny", KafkaClients.of(KAFKA.kafka().bootstrapServers()),
                    "canary-updates", store.root(), null, "canary-releases"), rollout)) {
                assertThat(rollout.version()).isEqualTo(1);
                assertThat(rollout.candidate()).isEqualTo(2);
                decide("canary-releases", 2, ReleaseDecision.ROLLBACK);
                await(() -> rollout.candidate() == VersionFollower.NO_CANDIDATE);
                announce.send("canary-updates", true, ModelUpdate.newBuilder(announce.version(3, 1, 3)).setCanary(true).build());
                await(() -> rollout.candidate() == 3);
                decide("canary-releases", 3, ReleaseDecision.PROMOTE);
                await(() -> rollout.version() == 3 && rollout.candidate() == VersionFollower.NO_CANDIDATE);
                assertThat(vllm.calls).containsExactly("load tiny-v1", "load tiny-v2", "unload tiny-v2", "load tiny-v3", "unload tiny-v1");
            }
        }
    }

    private static void decide(String topic, long version, ReleaseDecision decision) {
        ModelRelease verdict = ModelRelease.newBuilder().setModelId("tiny").setVersion(version).setDecision(decision).setPromotedVersion(1)
                .setCandidateVotes(400).setCandidateUp(300).setPromotedVotes(400).setPromotedUp(300).setDecidedAt(Instant.now())
                .setReason("test").build();
        KAFKA.kafka().send(topic, List.of(WireCodec.modelReleases(Clock.systemUTC()).encode(verdict)));
    }

    private static void await(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("waiting").isLessThan(deadline);
            Thread.sleep(50);
        }
    }
}
