package dev.kaizen.serving.publish;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import dev.kaizen.checkpoints.CheckpointStore;
import dev.kaizen.schemas.CheckpointFormat;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.wire.WireCodec;

/**
 * Stores an adapter directory in the checkpoint store and announces it on model-updates in a
 * Kafka transaction, as the job does: for an adapter made outside the job (benches, tests).
 */
public final class VersionPublisher {

    private final CheckpointStore store;
    private final String bootstrapServers;
    private final WireCodec<ModelUpdate> codec = WireCodec.modelUpdates(Clock.systemUTC());

    public VersionPublisher(CheckpointStore store, String bootstrapServers) {
        this.store = store;
        this.bootstrapServers = bootstrapServers;
    }

    /** Stores {@code adapterDir} and describes it as {@code version} of {@code modelId}, trained from {@code parent}. */
    public ModelUpdate store(String modelId, long version, long parent, Path adapterDir, String baseModel, long feedbackCount,
                             Map<String, Double> metrics) throws IOException {
        CheckpointStore.Stored stored = store.put(modelId, adapterDir);
        return ModelUpdate.newBuilder().setModelId(modelId).setVersion(version).setParentVersion(parent)
                .setFormat(CheckpointFormat.ADAPTER).setUri(stored.uri()).setSha256(stored.sha256()).setFiles(stored.files())
                .setCreatedAt(Instant.now()).setFeedbackCount(feedbackCount).setMetrics(metrics).setBaseModel(baseModel)
                .setRejectionReason(null).build();
    }

    /** Sends the announcements in one transaction, committed or (to see that readers ignore it) aborted. */
    public void send(String topic, boolean commit, ModelUpdate... updates) {
        try (var producer = new KafkaProducer<>(Map.<String, Object>of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, "kaizen-publish-" + UUID.randomUUID()),
                new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.initTransactions();
            producer.beginTransaction();
            for (ModelUpdate u : updates) {
                producer.send(new ProducerRecord<>(topic, u.getModelId().getBytes(StandardCharsets.UTF_8), codec.encode(u)));
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
