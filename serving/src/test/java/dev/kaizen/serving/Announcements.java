package dev.kaizen.serving;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.operators.update.CheckpointStore;
import dev.kaizen.schemas.CheckpointFormat;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.wire.WireCodec;

/** Real adapter checkpoints put in a real store, announced on a topic as the job announces them. */
public final class Announcements {

    private final LlamaForCausalLM base;
    private final CheckpointStore store;
    private final Path scratch;
    private final String bootstrapServers;

    public Announcements(LlamaForCausalLM base, CheckpointStore store, Path scratch, String bootstrapServers) {
        this.base = base;
        this.store = store;
        this.scratch = scratch;
        this.bootstrapServers = bootstrapServers;
    }

    /** An adapter of its own content per seed, stored, described as {@code version} of model "tiny". */
    public ModelUpdate version(long version, long parent, long seed) throws IOException {
        Path local = scratch.resolve("adapter-" + UUID.randomUUID());
        try (LoraAdapter adapter = LoraAdapter.attach(base, new LoraAdapter.Config(4, 8, 0, LoraAdapter.ALL_TARGETS), seed)) {
            adapter.save(local, "tiny-base");
        }
        CheckpointStore.Stored stored = store.put("tiny", local);
        return ModelUpdate.newBuilder().setModelId("tiny").setVersion(version).setParentVersion(parent)
                .setFormat(CheckpointFormat.ADAPTER).setUri(stored.uri()).setSha256(stored.sha256()).setFiles(stored.files())
                .setCreatedAt(Instant.now()).setFeedbackCount(16).setMetrics(Map.of("loss", 0.69)).setBaseModel("tiny-base")
                .setRejectionReason(null).build();
    }

    /** Sends the updates in one Kafka transaction, committed or aborted. */
    public void send(String topic, boolean commit, ModelUpdate... updates) {
        WireCodec<ModelUpdate> codec = WireCodec.modelUpdates(Clock.systemUTC());
        try (var producer = new KafkaProducer<>(Map.<String, Object>of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, "test-" + UUID.randomUUID()), new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.initTransactions();
            producer.beginTransaction();
            for (ModelUpdate u : updates) {
                producer.send(new ProducerRecord<>(topic, u.getModelId().getBytes(), codec.encode(u)));
            }
            producer.flush();
            if (commit) {
                producer.commitTransaction();
            } else {
                producer.abortTransaction();
            }
        }
    }
}
