package dev.kaizen.cli;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import dev.kaizen.schemas.ModelAction;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.serving.follow.KafkaClients;

/**
 * Undoes a release: asks the continual job, on model-commands, to announce an earlier release
 * again as the model's next version. The job stays the only writer of model-updates, so lineage
 * stays gapless and every serving instance follows the rollback as it follows any release.
 */
@Command(name = "rollback", mixinStandardHelpOptions = true,
        description = "Roll a model back to an earlier release: the continual job announces that release's checkpoint again as the "
                + "next version (its record says which version it restores), serving follows, and training goes on from there.")
final class RollbackCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--model-id", required = true, paramLabel = "ID", description = "The model, as the job names it.")
    String modelId;

    @Option(names = "--to-version", required = true, paramLabel = "N", description = "The earlier release to go back to.")
    long toVersion;

    @Mixin
    KafkaOptions kafkaOptions;

    @Option(names = "--reason", paramLabel = "TEXT", description = "Why, for the audit trail on model-commands.")
    String reason;

    @Option(names = "--model-updates-topic", defaultValue = "model-updates", paramLabel = "TOPIC", description = "Default: ${DEFAULT-VALUE}.")
    String updatesTopic;

    @Option(names = "--model-commands-topic", defaultValue = "model-commands", paramLabel = "TOPIC", description = "Default: ${DEFAULT-VALUE}.")
    String commandsTopic;

    @Option(names = "--timeout", defaultValue = "30", paramLabel = "SECONDS",
            description = "How long to wait for Kafka (default: ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    @Override
    public Integer call() throws Exception {
        Duration timeout = Duration.ofSeconds(timeoutSeconds);
        KafkaClients kafka = kafkaOptions.clients();
        // Checked here so a mistyped version fails now; the job checks again, and dead-letters what it cannot do.
        NavigableMap<Long, ModelUpdate> released = releases(kafka, timeout);
        if (released.isEmpty()) {
            throw new IllegalArgumentException("model " + modelId + " has no release on " + updatesTopic + " at " + kafka.bootstrapServers());
        }
        long current = released.lastKey();
        ModelUpdate target = released.get(toVersion);
        if (target == null || toVersion >= current) {
            throw new IllegalArgumentException("model " + modelId + " cannot roll back to version " + toVersion + ": its current version is "
                    + current + "; pick one of its releases 1 to " + (current - 1));
        }
        dev.kaizen.schemas.ModelCommand command = dev.kaizen.schemas.ModelCommand.newBuilder().setCommandId(UUID.randomUUID().toString())
                .setModelId(modelId).setAction(ModelAction.ROLLBACK).setToVersion(toVersion).setIssuedAt(Instant.now())
                .setIssuedBy(System.getProperty("user.name") + "@" + host()).setReason(reason).build();
        byte[] bytes = WireCodec.modelCommands(Clock.systemUTC()).encode(command);
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(kafka.config(Map.of("acks", "all", "enable.idempotence", true,
                "max.block.ms", timeout.toMillis())), new StringSerializer(), new ByteArraySerializer())) {
            RecordMetadata sent = producer.send(new ProducerRecord<>(commandsTopic, modelId, bytes)).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            spec.commandLine().getOut().printf("rollback of %s to version %d (sha256 %s) sent as command %s (%s-%d@%d); the job announces "
                            + "it as the next version after %d%n", modelId, toVersion, target.getSha256(), command.getCommandId(),
                    sent.topic(), sent.partition(), sent.offset(), current);
        }
        return 0;
    }

    /** The model's releases on model-updates, read to its end, by version. */
    private NavigableMap<Long, ModelUpdate> releases(KafkaClients kafka, Duration timeout) {
        WireCodec<ModelUpdate> codec = WireCodec.modelUpdates(Clock.systemUTC());
        NavigableMap<Long, ModelUpdate> released = new TreeMap<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(kafka.consumerConfig(Map.of("isolation.level", "read_committed",
                "enable.auto.commit", false, "default.api.timeout.ms", (int) timeout.toMillis())),
                new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor(updatesTopic).stream()
                    .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("cannot read " + updatesTopic + " to its end within " + timeout);
                }
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                    if (codec.decode(r.value()) instanceof Decoded.Valid<ModelUpdate> v && v.value().getModelId().equals(modelId)) {
                        released.put(v.value().getVersion(), v.value());
                    }
                }
            }
        }
        return released;
    }

    private static String host() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "unknown-host";
        }
    }
}
