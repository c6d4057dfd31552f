package dev.kaizen.jobs.continual;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.operators.update.CheckpointStore;
import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.testkit.EmbeddedKafkaExtension;

/**
 * The whole job, training included, on a real broker and a MiniCluster with RocksDB and
 * checkpoints every second, against {@link FeedbackScenario}'s ground truth: the versions
 * announced on model-updates (read_committed) plus the steps reported on model-rejections account
 * for exactly the samples that had to train, run 1..N per model without gaps, and point at
 * checkpoints holding exactly the announced bytes; the dead-letter and late topics hold exactly
 * the records that belong there.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class ContinualKtoLoopTest {

    static final int PARALLELISM = 2;
    static final int BATCH = 16;

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1).setNumberSlotsPerTaskManager(PARALLELISM).build());

    @TempDir
    static Path base;

    @TempDir
    Path store;

    @BeforeAll
    static void writeBase() throws Exception {
        ModelPresets.TINY.write(base, 5);
    }

    /** Two models whose keys land on different update subtasks, so two trainers share the JVM's gradient lease. */
    static List<String> modelsOnBothSubtasks() {
        List<String> models = new ArrayList<>();
        for (int i = 0; models.size() < 2; i++) {
            String id = "model-" + i;
            int subtask = KeyGroupRangeAssignment.assignKeyToParallelOperator(id, 128, PARALLELISM);
            if (subtask == models.size()) {
                models.add(id);
            }
        }
        return models;
    }

    @Test
    void everySettledSampleTrainsExactlyOnceIntoGaplessVerifiedVersions() throws Exception {
        List<String> models = modelsOnBothSubtasks();
        FeedbackScenario scenario = new FeedbackScenario(models, 460, BATCH, 7);
        assertThat(scenario.feedbackEvents()).isGreaterThanOrEqualTo(5_000);
        String group = "loop-" + System.nanoTime();
        KAFKA.kafka().createTopics(PARALLELISM, "chat-feedback", "chat-responses", "chat-feedback-dlq", "chat-feedback-late",
                "model-updates", "model-rejections");
        // Answers and votes are all there before the job starts, as a backlog: both sources read
        // side by side in event time, neither idle, so the watermark passes a vote only after its answer.
        KAFKA.kafka().send("chat-responses", scenario.responses);
        KAFKA.kafka().send("chat-feedback", scenario.feedback);

        JobConfig config = JobConfig.load(null, List.of("kafka.bootstrap-servers=" + KAFKA.kafka().bootstrapServers(),
                "kafka.group-id=" + group, "kafka.transaction-timeout=2min", "event-time.idleness=1s", "settle.lateness=10s",
                "settle.response-wait=1min", "user-cap-per-hour=" + FeedbackScenario.CAP, "batches.size=" + BATCH,
                "batches.timeout=1h", "training.base-model-dir=" + base, "training.checkpoint-root=" + store.toUri()));
        Configuration conf = new Configuration();
        conf.setString("state.backend.type", "rocksdb");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(PARALLELISM);
        env.enableCheckpointing(1000);
        ContinualKtoJob.build(env, config, false);
        JobClient job = env.executeAsync("continual-kto-loop");
        try {
            // Only then the pushers: a source that sat idle while the other raced ahead in event
            // time would find its records late, as Flink's idleness means.
            awaitCommittedOffsets(group, "chat-feedback");
            for (int p = 0; p < PARALLELISM; p++) {
                KAFKA.kafka().send("chat-feedback", p, List.of(scenario.pushers.get(p)));
            }
            List<ModelUpdate> steps = readSteps(scenario.expectedTotal(), Duration.ofMinutes(4));
            assertLineage(steps, scenario);
            KAFKA.kafka().send("chat-feedback", scenario.lateVotes);
            List<byte[]> late = KAFKA.kafka().readCommitted("chat-feedback-late", scenario.expectedLate, Duration.ofSeconds(3),
                    Duration.ofMinutes(1));
            assertThat(late).hasSize(scenario.expectedLate);
            List<DeadLetter> dead = KAFKA.kafka().readCommitted("chat-feedback-dlq",
                            FeedbackScenario.DEAD_LETTERS.values().stream().mapToInt(Integer::intValue).sum(),
                            Duration.ofSeconds(2), Duration.ofMinutes(1)).stream()
                    .map(b -> ((Decoded.Valid<DeadLetter>) WireCodec.deadLetters(Clock.systemUTC()).decode(b)).value()).toList();
            assertThat(dead.stream().collect(Collectors.groupingBy(DeadLetter::getReason, Collectors.summingInt(d -> 1))))
                    .isEqualTo(FeedbackScenario.DEAD_LETTERS);
            // Late votes and redeliveries changed nothing: the steps are still exactly those of phase one.
            assertThat(readSteps(scenario.expectedTotal(), Duration.ofSeconds(10))).hasSameSizeAs(steps);
        } finally {
            job.cancel().get(1, TimeUnit.MINUTES);
        }
    }

    /** Reads model-updates and model-rejections until their feedback counts reach {@code expected}, then a few seconds more. */
    static List<ModelUpdate> readSteps(int expected, Duration timeout) {
        WireCodec<ModelUpdate> codec = WireCodec.modelUpdates(Clock.systemUTC());
        return KAFKA.kafka().readCommitted(List.of("model-updates", "model-rejections"),
                        values -> values.stream().mapToLong(b -> decode(codec, b).getFeedbackCount()).sum() >= expected,
                        Duration.ofSeconds(5), timeout).stream()
                .map(b -> decode(codec, b)).toList();
    }

    private static ModelUpdate decode(WireCodec<ModelUpdate> codec, byte[] bytes) {
        return ((Decoded.Valid<ModelUpdate>) codec.decode(bytes)).value();
    }

    /** Invariants 1–3 on what was announced: exact counts, versions 1..N naming their parents, immutable verified files. */
    static void assertLineage(List<ModelUpdate> steps, FeedbackScenario scenario) throws Exception {
        Map<String, Long> counted = new HashMap<>();
        steps.forEach(s -> counted.merge(s.getModelId(), s.getFeedbackCount(), Long::sum));
        Map<String, Long> expected = new HashMap<>();
        scenario.expectedSamples.forEach((m, n) -> expected.put(m, (long) n));
        assertThat(counted).isEqualTo(expected);
        for (String model : scenario.expectedSamples.keySet()) {
            List<ModelUpdate> versions = steps.stream().filter(s -> s.getModelId().equals(model) && s.getRejectionReason() == null)
                    .sorted(Comparator.comparing(ModelUpdate::getVersion)).toList();
            assertThat(versions).as(model).isNotEmpty();
            for (int i = 0; i < versions.size(); i++) {
                ModelUpdate v = versions.get(i);
                assertThat(v.getVersion()).as(model).isEqualTo(i + 1);
                assertThat(v.getParentVersion()).as(model).isEqualTo(i);
                Path dir = Path.of(URI.create(v.getUri()));
                assertThat(CheckpointStore.hashFiles(dir)).as(v.getUri()).isEqualTo(v.getFiles());
                assertThat(CheckpointStore.manifestSha256(v.getFiles())).isEqualTo(v.getSha256());
            }
            steps.stream().filter(s -> s.getModelId().equals(model) && s.getRejectionReason() != null)
                    .forEach(r -> assertThat(r.getVersion()).isEqualTo(r.getParentVersion() + 1));
        }
    }

    /** Waits until the job's consumer group has committed (on a checkpoint) every record of {@code topic}. */
    static void awaitCommittedOffsets(String group, String topic) throws Exception {
        var admin = KAFKA.kafka().admin();
        List<TopicPartition> partitions = new ArrayList<>();
        for (int p = 0; p < PARALLELISM; p++) {
            partitions.add(new TopicPartition(topic, p));
        }
        Map<TopicPartition, OffsetSpec> latest = partitions.stream().collect(Collectors.toMap(p -> p, p -> OffsetSpec.latest()));
        Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends = admin.listOffsets(latest).all().get();
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
        while (System.nanoTime() < deadline) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            if (partitions.stream().allMatch(p -> ends.get(p).offset() == 0
                    || committed.get(p) != null && committed.get(p).offset() >= ends.get(p).offset())) {
                return;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("the job did not read all of " + topic + " within a minute");
    }
}
