package dev.kaizen.jobs.continual;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.CheckpointType;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.execution.ExecutionState;
import org.apache.flink.runtime.executiongraph.ErrorInfo;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import ai.djl.Device;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.checkpoints.CheckpointStore;
import dev.kaizen.embeddedkafka.Broker;
import dev.kaizen.operators.accumulate.AccumulateBatches;
import dev.kaizen.operators.accumulate.KtoBatch;
import dev.kaizen.operators.release.ReleaseGate;
import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.operators.update.UpdateModel;
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
@Timeout(value = 12, unit = TimeUnit.MINUTES)
class ContinualKtoLoopTest {

    static final int PARALLELISM = 2;
    static final int BATCH = 16;
    static final int RELEASE_EVERY = 3;
    /** Fewer than the releases of a run, so the store deletes some. */
    static final int KEEP_RELEASES = 5;
    /** The completed Flink checkpoints the cluster retains, and the update stage's store protects. */
    static final int RETAINED = 3;
    static final Configuration CLUSTER = Configuration.fromMap(Map.of("execution.checkpointing.num-retained", Integer.toString(RETAINED)));

    // A broker per test: the failure test loses a TaskManager with open transactions, and new
    // topics on that broker were then seen to refuse writes to some partitions for minutes.
    @RegisterExtension
    final EmbeddedKafkaExtension kafka = new EmbeddedKafkaExtension();

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setConfiguration(CLUSTER).setNumberTaskManagers(1).setNumberSlotsPerTaskManager(PARALLELISM).build());

    @TempDir
    static Path base;

    @TempDir
    Path store;

    /** Candidates the gate refused over the class's gated runs. */
    private static final AtomicInteger REFUSED = new AtomicInteger();

    @BeforeAll
    static void writeBase() throws Exception {
        ModelPresets.TINY.write(base, 5);
    }

    /** The gate's refusals were among what the runs counted exactly (each run's own count is chance; the class has three gated runs). */
    @AfterAll
    static void theGateRefusedCandidatesAndTheCountsStillAddedUp() {
        assertThat(REFUSED.get()).as("candidates the gate refused over the class's runs").isPositive();
    }

    /**
     * A golden set of polite answers that a candidate may not make any less likely: the random
     * model's NLL on it wavers from step to step, so the gate refuses some candidates of every run.
     */
    static Path goldenSet(Path dir) throws Exception {
        Path golden = dir.resolve("golden.jsonl");
        Files.write(golden, TwoStyleChat.trainFacts().stream().limit(8)
                .map(f -> "{\"prompt\": [{\"role\": \"user\", \"content\": \"" + f.question() + "\"}], \"completion\": [{\"role\": "
                        + "\"assistant\", \"content\": \"" + f.answer(TwoStyleChat.Style.A) + "\"}]}").toList());
        return golden;
    }

    /** The scenario of the exactness tests: two models, 460 answers each. */
    static FeedbackScenario defaultScenario() {
        return new FeedbackScenario(modelsOnBothSubtasks(), 460, BATCH, 7);
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
        Run run = new Run(kafka.kafka(), "plain", defaultScenario(), base, store, goldenSet(store));
        JobClient job = run.start(run.recordingStages(), PARALLELISM, null);
        try {
            run.finishAndCheck();
        } finally {
            job.cancel().get(1, TimeUnit.MINUTES);
        }
    }

    /**
     * The same run, made to fail three times at random points: in the accumulator, in the update
     * stage after a version's files are written but before its checkpoint, and by losing the
     * TaskManager. Restarts replay from the last checkpoint; nothing is lost or counted twice.
     */
    @Test
    void failuresAtRandomPointsLoseNothingCountNothingTwiceAndLeaveNoGap(@InjectMiniCluster MiniCluster cluster) throws Exception {
        // Other points each run, and the seed printed, so a failing run can be replayed with -Dkaizen.failure-seed.
        long seed = Long.getLong("kaizen.failure-seed", System.nanoTime());
        Random random = new Random(seed);
        FailOnce.reset(5 + random.nextInt(40), 2 + random.nextInt(10));
        System.out.printf("failure seed %d: failing the accumulator at batch %d and the update stage after judging release %d%n",
                seed, FailOnce.failAtBatch, FailOnce.failAtVersion);
        Run run = new Run(kafka.kafka(), "failures", defaultScenario(), base, store, goldenSet(store));
        FailingUpdate update = new FailingUpdate(run.config, run.suffix);
        JobClient job = run.start(new ContinualKtoJob.Stages(new FailingAccumulate(BATCH), update), PARALLELISM, null);
        try {
            run.releasePushers();
            // Lose the TaskManager once some versions are out, then give the job a new one.
            run.readSteps(20 * BATCH, Duration.ofMinutes(3));
            cluster.terminateTaskManager(0).get(1, TimeUnit.MINUTES);
            cluster.startTaskManager();
            run.finishAndCheck();
            assertThat(FailOnce.ACCUMULATE.get()).as("the accumulator failed").isTrue();
            assertThat(FailOnce.UPDATE.get()).as("the update stage failed after writing").isTrue();
        } finally {
            job.cancel().get(1, TimeUnit.MINUTES);
        }
    }

    /** Stopped with a savepoint mid-stream and resumed with parallelism 1: state and counts carry over exactly. */
    @Test
    void aSavepointResumesWithAnotherParallelism(@TempDir Path savepoints) throws Exception {
        Run run = new Run(kafka.kafka(), "rescale", defaultScenario(), base, store, goldenSet(store));
        JobClient first = run.start(run.recordingStages(), PARALLELISM, null);
        run.releasePushers();
        run.readSteps(30 * BATCH, Duration.ofMinutes(3));
        String savepoint = first.stopWithSavepoint(false, savepoints.toUri().toString(), SavepointFormatType.CANONICAL)
                .get(2, TimeUnit.MINUTES);
        JobClient second = run.start(run.recordingStages(), 1, savepoint);
        try {
            run.finishAndCheck();
        } finally {
            second.cancel().get(1, TimeUnit.MINUTES);
        }
    }

    /**
     * Cancelled mid-stream, the job restarts from the oldest checkpoint Flink retained: the update
     * stage resumes from the checkpoint directory that state names, one the first run had trained
     * past and the store had to keep, and runs on without a failure. (A restore from an older
     * checkpoint announces again what was announced since, as Flink replays any job's output.)
     */
    @Test
    void aJobRestoredFromItsOldestRetainedCheckpointFindsEveryFileItNeeds(@InjectMiniCluster MiniCluster cluster,
            @TempDir Path checkpoints) throws Exception {
        // No releases, so every step's checkpoint is one the store deletes once the next step supersedes it and the
        // retained checkpoints are past; no periodic checkpoints, the test takes them; no source idle in its pauses.
        Run run = new Run(kafka.kafka(), "retained", defaultScenario(), base, store, null, false,
                List.of("release.every-steps=1000", "release.max-wait=1h", "event-time.idleness=10min"));
        Configuration conf = new Configuration();
        conf.setString("execution.checkpointing.interval", "1h");
        conf.setString("execution.checkpointing.dir", checkpoints.toUri().toString());
        conf.setString("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION");
        String first = run.suffix;
        JobClient job = run.start(run.stages(new RecordingUpdate(run.config, first)), PARALLELISM, null, conf);
        long oldest;
        long newest;
        try {
            // A checkpoint naming each model's step of the first third of the votes; then the second third trained past
            // those steps, and two checkpoints, each taken once its part is trained: after them the store deleted what no
            // retained checkpoint names, and Flink retains exactly those three.
            Map<String, Integer> counts = stepCounts(run, first);
            sendPart(run, 0, 3);
            awaitMoreSteps(first, counts);
            oldest = checkpoint(cluster, job);
            counts = stepCounts(run, first);
            sendPart(run, 1, 3);
            awaitMoreSteps(first, counts);
            checkpoint(cluster, job);
            newest = checkpoint(cluster, job);
            RecordingUpdate.awaitCompleted(first, newest, PARALLELISM);
        } finally {
            cancel(job);
        }
        Path restoreFrom = checkpoints.resolve(job.getJobID() + "/chk-" + oldest);
        try (Stream<Path> dirs = Files.list(checkpoints.resolve(job.getJobID().toString()))) {
            assertThat(dirs.filter(d -> Files.exists(d.resolve("_metadata"))).map(d -> d.getFileName().toString()))
                    .as("the retained checkpoints").hasSize(RETAINED).contains("chk-" + oldest, "chk-" + newest);
        }
        String restored = first + "-restored";
        JobClient again = run.start(run.stages(new RecordingUpdate(run.config, restored)), PARALLELISM, restoreFrom.toUri().toString(), conf);
        // A restored job's watermark moves only with new records, on every partition of both topics (no source goes idle).
        ScheduledExecutorService pushing = run.pushAgain();
        for (int p = 0; p < PARALLELISM; p++) {
            run.broker.send("chat-responses" + first, p, List.of(run.scenario.responsePushers.get(p)));
        }
        try {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
            for (String model : run.scenario.expectedSamples.keySet()) {
                while (steps(restored, model).isEmpty()) {
                    assertThat(failure(cluster, again)).as("the restored job's failure").isNull();
                    assertThat(System.nanoTime()).as("a step of %s after the restore in time", model).isLessThan(deadline);
                    Thread.sleep(100);
                }
                Map<String, String> before = steps(first, model);
                Map<String, String> after = steps(restored, model);
                // The checkpoint the restored state names: the start of the restored run's chain of steps.
                String resumed = after.values().stream().filter(from -> !after.containsKey(from)).findFirst().orElseThrow();
                assertThat(resumed).as("%s resumed from a checkpoint the first run wrote and then trained past", model)
                        .isIn(before.keySet()).isIn(before.values());
            }
            assertThat(failure(cluster, again)).as("the restored job's failure").isNull();
        } finally {
            pushing.shutdownNow();
            cancel(again);
        }
    }

    /** Takes a checkpoint of {@code job} once every task of it runs, which it must do without a failure; returns its id. */
    private static long checkpoint(MiniCluster cluster, JobClient job) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
        while (!StreamSupport.stream(cluster.getExecutionGraph(job.getJobID()).get(1, TimeUnit.MINUTES).getAllExecutionVertices().spliterator(),
                false).allMatch(v -> v.getExecutionState() == ExecutionState.RUNNING)) {
            assertThat(failure(cluster, job)).as("the first run's failure").isNull();
            assertThat(System.nanoTime()).as("every task running in time").isLessThan(deadline);
            Thread.sleep(100);
        }
        assertThat(failure(cluster, job)).as("the first run's failure").isNull();
        return cluster.triggerCheckpoint(job.getJobID(), CheckpointType.CONFIGURED).get(3, TimeUnit.MINUTES);
    }

    /** The last failure of {@code job}, with its stack trace; null if it never failed. */
    private static String failure(MiniCluster cluster, JobClient job) throws Exception {
        ErrorInfo info = cluster.getExecutionGraph(job.getJobID()).get(1, TimeUnit.MINUTES).getFailureInfo();
        return info == null ? null : info.getExceptionAsString();
    }

    /** Cancels {@code job} and waits until its tasks are gone, so none writes to the store while the test cleans up. */
    private static void cancel(JobClient job) throws Exception {
        job.cancel().get(1, TimeUnit.MINUTES);
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
        while (!job.getJobStatus().get(1, TimeUnit.MINUTES).isGloballyTerminalState()) {
            assertThat(System.nanoTime()).as("%s cancelled in time", job.getJobID()).isLessThan(deadline);
            Thread.sleep(100);
        }
    }

    /** Sends part {@code part} of {@code parts} of the scenario's votes, in event-time order, to every partition alike. */
    private static void sendPart(Run run, int part, int parts) {
        List<byte[]> votes = run.scenario.feedback;
        sendDealt(run.broker, "chat-feedback" + run.suffix, votes.subList(votes.size() * part / parts, votes.size() * (part + 1) / parts));
    }

    /**
     * Deals {@code records} to the partitions in turn, so each partition holds them in their order and
     * spans their whole range of event time (the producer's own partitioner may give one partition a
     * run of early records and the other the late ones, and the early one then holds the watermark back).
     */
    static void sendDealt(Broker broker, String topic, List<byte[]> records) {
        for (int p = 0; p < PARALLELISM; p++) {
            int partition = p;
            broker.send(topic, partition, IntStream.range(0, records.size()).filter(i -> i % PARALLELISM == partition).mapToObj(records::get).toList());
        }
    }

    /** The accepted steps each model of the scenario took in {@code run} so far. */
    private static Map<String, Integer> stepCounts(Run run, String name) {
        return run.scenario.expectedSamples.keySet().stream().collect(Collectors.toMap(m -> m, m -> steps(name, m).size()));
    }

    /** Waits until every model took an accepted step in {@code name} beyond the {@code counts} it had. */
    private static void awaitMoreSteps(String name, Map<String, Integer> counts) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        for (Map.Entry<String, Integer> model : counts.entrySet()) {
            while (steps(name, model.getKey()).size() <= model.getValue()) {
                assertThat(System.nanoTime()).as("a step of %s in time; steps so far: %s", model.getKey(),
                        counts.keySet().stream().collect(Collectors.toMap(m -> m, m -> steps(name, m).size()))).isLessThan(deadline);
                Thread.sleep(100);
            }
        }
    }

    /** The checkpoints {@code run}'s accepted steps of {@code model} wrote, each with the one it started from. */
    private static Map<String, String> steps(String run, String model) {
        String prefix = run + "/" + model + "/";
        return RecordingUpdate.STEPS.entrySet().stream().filter(e -> e.getKey().startsWith(prefix))
                .collect(Collectors.toMap(e -> e.getKey().substring(prefix.length()), e -> e.getValue().from()));
    }

    /** Answers sampled per training fact, before and after: 444 each, so the judge's count varies by about a point, not 1.5. */
    private static final int FACT_SAMPLES = 4;

    /**
     * The model learns from its stream: from the SFT model of the two-style task (about half its
     * answers polite, its facts known), votes by the task's rule drive the polite share of the last
     * announced version's answers to held-out questions to at least 80%, while its answers to the
     * training facts stay right (within 5 points of the base), as the judge reads them.
     */
    @Test
    void votesByTheTasksRuleDriveTheAnnouncedModelToPolitenessKeepingTheFacts(@TempDir Path tmp) throws Exception {
        String cache = System.getProperty("kaizen.test-cache");
        Path sft = TwoStyleChat.sftModel(cache == null ? tmp : Path.of(cache), step -> { });
        Run run = new Run(kafka.kafka(), "learning", new FeedbackScenario(List.of("two-style"), 1200, BATCH, 21), sft, store, null);
        JobClient job = run.start(run.recordingStages(), PARALLELISM, null);
        List<ModelUpdate> steps;
        try {
            steps = run.finishAndCheck();
        } finally {
            job.cancel().get(1, TimeUnit.MINUTES);
        }
        ModelUpdate last = steps.stream().filter(s -> s.getRejectionReason() == null).max(Comparator.comparing(ModelUpdate::getVersion))
                .orElseThrow();
        double before;
        double after;
        double correctBefore;
        double correctAfter;
        try (LlamaForCausalLM model = LlamaForCausalLM.load(sft, Device.cpu()); ChatTokenizer tokenizer = ChatTokenizer.load(sft)) {
            before = TwoStyleChat.judgeAnswers(model, tokenizer, TwoStyleChat.heldOutFacts(), 8, 1.0, 1).polite();
            correctBefore = TwoStyleChat.judgeAnswers(model, tokenizer, TwoStyleChat.trainFacts(), FACT_SAMPLES, 1.0, 5).correct();
            try (LoraAdapter adapter = LoraAdapter.load(model, Path.of(URI.create(last.getUri())))) {
                after = TwoStyleChat.judgeAnswers(model, tokenizer, TwoStyleChat.heldOutFacts(), 8, 1.0, 1).polite();
                correctAfter = TwoStyleChat.judgeAnswers(model, tokenizer, TwoStyleChat.trainFacts(), FACT_SAMPLES, 1.0, 5).correct();
            }
        }
        System.out.printf("continual KTO: %d versions, rejected steps by reason %s, polite %.1f%% -> %.1f%%, training facts right %.1f%% -> "
                        + "%.1f%%, max kl_to_reference %.3f%n", last.getVersion(),
                steps.stream().filter(s -> s.getRejectionReason() != null)
                        .collect(Collectors.groupingBy(ModelUpdate::getRejectionReason, TreeMap::new, Collectors.counting())),
                100 * before, 100 * after, 100 * correctBefore,
                100 * correctAfter,
                steps.stream().mapToDouble(s -> s.getMetrics().getOrDefault("kl_to_reference", 0.0)).max().orElse(0));
        assertThat(before).isBetween(0.3, 0.7);
        assertThat(after).isGreaterThanOrEqualTo(0.8);
        assertThat(correctAfter).isGreaterThanOrEqualTo(correctBefore - 0.05);
    }

    /** One run of the scenario on its own topics, consumer group and checkpoint store, on {@code broker}. */
    static final class Run {
        final Broker broker;
        final FeedbackScenario scenario;
        final String suffix;
        final String group;
        /** The job's settings, as {@code key=value} overrides of its defaults. */
        final List<String> settings;
        final JobConfig config;
        private boolean pushed;
        private final boolean gated;
        /** Whether this run's update stage notes what it trained on (not so for a job on a cluster of its own). */
        private boolean recorded;

        /** The gate checks {@code goldenSet} (null: none) with no tolerance, and none of the degeneration checks the random model would fail. */
        Run(Broker broker, String name, FeedbackScenario scenario, Path baseModel, Path store, Path goldenSet) throws Exception {
            this(broker, name, scenario, baseModel, store, goldenSet, true, List.of());
        }

        /** With {@code backlog} false, the test sends the scenario's votes itself; {@code overrides} go over the settings of every run. */
        Run(Broker broker, String name, FeedbackScenario scenario, Path baseModel, Path store, Path goldenSet, boolean backlog,
                List<String> overrides) throws Exception {
            this.broker = broker;
            this.scenario = scenario;
            this.gated = goldenSet != null;
            assertThat(scenario.feedbackEvents()).isGreaterThanOrEqualTo(5_000);
            suffix = "-" + name;
            group = "loop-" + name + "-" + System.nanoTime();
            broker.createTopics(PARALLELISM, Stream.of("chat-feedback", "chat-responses", "chat-feedback-dlq",
                    "chat-feedback-late", "model-updates", "model-rejections", "model-commands", "model-releases").map(t -> t + suffix).toArray(String[]::new));
            // Answers and votes are all there before the job starts, as a backlog: both sources read
            // side by side in event time, neither idle, so the watermark passes a vote only after its answer.
            // Idleness is wall-clock time in which a partition's source emitted nothing, a source thread starved of
            // the CPU included: at 1 s, on a loaded 2-core machine, one partition went idle mid-backlog and the
            // other carried the watermark past its votes, which went late.
            sendDealt(broker, "chat-responses" + suffix, scenario.responses);
            if (backlog) {
                broker.send("chat-feedback" + suffix, scenario.feedback);
            }
            List<String> settings = new ArrayList<>(List.of("kafka.bootstrap-servers=" + broker.bootstrapServers(),
                    "kafka.group-id=" + group, "kafka.transaction-timeout=3min", "flink.execution.checkpointing.timeout=2min", "event-time.idleness=15s", "settle.lateness=10s",
                    "settle.response-wait=1min", "user-cap-per-hour=" + FeedbackScenario.CAP, "batches.size=" + BATCH,
                    "release.every-steps=" + RELEASE_EVERY, "release.max-wait=5s", "store.keep-releases=" + KEEP_RELEASES,
                    // No serving answers with the releases here, so no canary trial could draw a vote: each goes to everyone.
                    "canary.enabled=false",
                    "batches.timeout=1h", "training.base-model-dir=" + baseModel,
                    "training.checkpoint-root=" + store.resolve(name).toUri(),
                    "topics.feedback=chat-feedback" + suffix, "topics.responses=chat-responses" + suffix,
                    "topics.dead-letters=chat-feedback-dlq" + suffix, "topics.late=chat-feedback-late" + suffix,
                    "topics.model-updates=model-updates" + suffix, "topics.model-rejections=model-rejections" + suffix,
                    "topics.model-commands=model-commands" + suffix, "topics.model-releases=model-releases" + suffix));
            if (gated) {
                settings.addAll(List.of("release.golden-set=" + goldenSet, "release.max-golden-nll-increase=0",
                        "release.max-answer-length-factor=100", "release.min-distinct2-ratio=0"));
            }
            settings.addAll(overrides);
            this.settings = List.copyOf(settings);
            config = JobConfig.load(null, settings);
        }

        /** The job's own stages, the update stage noting what each step trained on. */
        ContinualKtoJob.Stages recordingStages() {
            return stages(new RecordingUpdate(config, suffix));
        }

        ContinualKtoJob.Stages stages(UpdateModel update) {
            return new ContinualKtoJob.Stages(new AccumulateBatches(BATCH, config.batches().timeout()), update);
        }

        JobClient start(ContinualKtoJob.Stages stages, int parallelism, String savepoint) throws Exception {
            return start(stages, parallelism, savepoint, new Configuration());
        }

        /** Starts the job from {@code savepoint} (a savepoint or retained checkpoint; null: none) with {@code own} over the test's Flink settings. */
        JobClient start(ContinualKtoJob.Stages stages, int parallelism, String savepoint, Configuration own) throws Exception {
            recorded = stages.update() instanceof RecordingUpdate;
            Configuration conf = new Configuration();
            conf.setString("state.backend.type", "rocksdb");
            conf.setString("restart-strategy.type", "fixed-delay");
            conf.setString("restart-strategy.fixed-delay.attempts", "10");
            conf.setString("restart-strategy.fixed-delay.delay", "1s");
            if (savepoint != null) {
                conf.setString("execution.state-recovery.path", savepoint);
            }
            conf.setString("execution.checkpointing.interval", "1s");
            conf.addAll(own);
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
            env.setParallelism(parallelism);
            ContinualKtoJob.build(env, config, false, stages);
            return env.executeAsync("continual-kto" + suffix);
        }

        /**
         * Once the backlog is read, a vote far ahead on each partition moves the watermark past it
         * (sent earlier, a source that sat idle while the other raced ahead would find its records late).
         */
        void releasePushers() throws Exception {
            if (!pushed) {
                // A deadline, not a speed target: generous, so a busy machine slows the test rather than failing it.
                broker.awaitCommitted(group, "chat-feedback" + suffix, Duration.ofMinutes(6));
                sendPushers();
                pushed = true;
            }
        }

        private void sendPushers() {
            for (int p = 0; p < PARALLELISM; p++) {
                broker.send("chat-feedback" + suffix, p, List.of(scenario.pushers.get(p)));
            }
        }

        /**
         * Sends the pushers again every 5 s until shut down. Flink keeps no watermark in its checkpoints: a job
         * restored after the pushers were read waits for a later record to move event time on (in production, the
         * next votes). Here the same pushers again are that record; settle drops them as duplicates.
         */
        ScheduledExecutorService pushAgain() {
            ScheduledExecutorService again = Executors.newSingleThreadScheduledExecutor();
            again.scheduleWithFixedDelay(this::sendPushers, 5, 5, TimeUnit.SECONDS);
            return again;
        }

        List<ModelUpdate> finishAndCheck() throws Exception {
            releasePushers();
            ScheduledExecutorService again = pushAgain();
            List<ModelUpdate> steps;
            try {
                // A deadline, not a speed target: after a lost TaskManager the steps since the last checkpoint are trained
                // and their releases gated again, which on a loaded 2-core machine can take minutes.
                steps = readSteps(scenario.expectedTotal(), Duration.ofMinutes(8));
            } finally {
                again.shutdownNow();
            }
            try {
                assertLineage(steps, scenario);
            } catch (AssertionError e) {
                int late = broker.readCommitted("chat-feedback-late" + suffix, Integer.MAX_VALUE, Duration.ZERO, Duration.ofSeconds(10)).size();
                throw new AssertionError(e.getMessage() + "\nvotes that went late instead: " + late + "\ndead letters by reason: "
                        + deadLetters(Duration.ZERO, Duration.ofSeconds(10)) + " (expected " + FeedbackScenario.DEAD_LETTERS + ")", e);
            }
            if (gated) {
                // Every release was judged on its golden set and made it no less likely (no tolerance); whether a run's
                // candidates ever did is chance (one run in a CI had none of 37), so refusals are required over the class.
                assertThat(steps).filteredOn(s -> s.getRejectionReason() == null).allSatisfy(s -> assertThat(
                        s.getMetrics().get(ReleaseGate.GOLDEN_NLL)).isLessThanOrEqualTo(s.getMetrics().get(ReleaseGate.GOLDEN_NLL_BASELINE)));
                REFUSED.addAndGet((int) steps.stream().filter(s -> s.getRejectionReason() != null
                        && s.getRejectionReason().startsWith(ReleaseGate.REFUSAL_PREFIX + "golden-nll rose")).count());
            }
            if (recorded) {
                assertTrainedExactlyOnce(steps);
            }
            broker.send("chat-feedback" + suffix, scenario.lateVotes);
            List<byte[]> late = broker.readCommitted("chat-feedback-late" + suffix, scenario.expectedLate,
                    Duration.ofSeconds(3), Duration.ofMinutes(3));
            assertThat(late).hasSize(scenario.expectedLate);
            assertThat(deadLetters(Duration.ofSeconds(2), Duration.ofMinutes(3))).isEqualTo(FeedbackScenario.DEAD_LETTERS);
            // Late votes and redeliveries changed nothing: the steps are still exactly those of phase one.
            assertThat(readSteps(scenario.expectedTotal(), Duration.ofSeconds(10))).hasSameSizeAs(steps);
            return steps;
        }

        /** The dead-lettered votes by reason, once all the scenario's are there or {@code timeout} has passed. */
        private Map<String, Integer> deadLetters(Duration linger, Duration timeout) {
            return broker.readCommitted("chat-feedback-dlq" + suffix, FeedbackScenario.DEAD_LETTERS.values().stream().mapToInt(Integer::intValue).sum(),
                            linger, timeout).stream()
                    .map(b -> ((Decoded.Valid<DeadLetter>) WireCodec.deadLetters(Clock.systemUTC()).decode(b)).value())
                    .collect(Collectors.groupingBy(DeadLetter::getReason, Collectors.summingInt(d -> 1)));
        }

        /**
         * The samples that reached the update stage (to train, or held out beside those that did),
         * as it last saw each step (an attempt a failure undid is done again), are exactly those
         * that had to: a dropped step's are its own batch; a release's or a refused candidate's are
         * those of the steps that lead, checkpoint by checkpoint, from its parent release to it. A
         * lost batch and a replayed one would cancel out in the counts, not here.
         */
        void assertTrainedExactlyOnce(List<ModelUpdate> steps) {
            for (String model : scenario.expectedSamples.keySet()) {
                Map<Long, String> released = new HashMap<>();
                steps.stream().filter(s -> s.getModelId().equals(model) && s.getRejectionReason() == null)
                        .forEach(s -> released.put(s.getVersion(), s.getSha256()));
                List<String> trained = new ArrayList<>();
                for (ModelUpdate s : steps.stream().filter(s -> s.getModelId().equals(model)).toList()) {
                    if (s.getRejectionReason() != null && !s.getRejectionReason().startsWith(ReleaseGate.REFUSAL_PREFIX)) {
                        trained.addAll(RecordingUpdate.DROPPED.get(RecordingUpdate.key(suffix, s)));
                        continue;
                    }
                    String stop = released.get(s.getParentVersion());
                    int walked = 0;
                    for (String sha = s.getSha256(); !sha.equals(stop) && RecordingUpdate.STEPS.containsKey(suffix + "/" + model + "/" + sha); walked++) {
                        RecordingUpdate.Trained step = RecordingUpdate.STEPS.get(suffix + "/" + model + "/" + sha);
                        trained.addAll(step.samples());
                        sha = step.from();
                    }
                    assertThat(walked).as("steps of %s@%d", model, s.getVersion()).isBetween(1, RELEASE_EVERY);
                }
                List<String> capped = trained.stream().filter(t -> t.split(" ")[1].equals(FeedbackScenario.CAPPED_USER)).toList();
                assertThat(trained).as(model).filteredOn(t -> !capped.contains(t))
                        .containsExactlyInAnyOrderElementsOf(scenario.expectedTrained.get(model));
                if (model.equals(scenario.expectedSamples.keySet().iterator().next())) {
                    assertThat(capped).as("the capped user's samples").hasSize(FeedbackScenario.CAP).doesNotHaveDuplicates()
                            .allMatch(t -> t.endsWith(" up"));
                } else {
                    assertThat(capped).isEmpty();
                }
            }
        }

        /** Reads model-updates and model-rejections until their feedback counts reach {@code expected}, then a few seconds more. */
        List<ModelUpdate> readSteps(int expected, Duration timeout) {
            WireCodec<ModelUpdate> codec = WireCodec.modelUpdates(Clock.systemUTC());
            return broker.readCommitted(List.of("model-updates" + suffix, "model-rejections" + suffix),
                            values -> values.stream().mapToLong(b -> accounted(decode(codec, b))).sum() >= expected,
                            Duration.ofSeconds(5), timeout).stream()
                    .map(b -> decode(codec, b)).toList();
        }
    }

    /** Which injected failure has happened; each fires once per test, at a batch or version drawn at random. */
    static final class FailOnce {
        static final AtomicBoolean ACCUMULATE = new AtomicBoolean();
        static final AtomicBoolean UPDATE = new AtomicBoolean();
        static final AtomicInteger BATCHES = new AtomicInteger();
        static volatile int failAtBatch;
        static volatile int failAtVersion;

        static void reset(int batch, int version) {
            ACCUMULATE.set(false);
            UPDATE.set(false);
            BATCHES.set(0);
            failAtBatch = batch;
            failAtVersion = version;
        }
    }

    static final class FailingAccumulate extends AccumulateBatches {
        FailingAccumulate(int size) {
            super(size, Duration.ofHours(1));
        }

        @Override
        public void processElement(SettledVote vote, Context ctx, Collector<KtoBatch> out) throws Exception {
            if (FailOnce.BATCHES.incrementAndGet() == FailOnce.failAtBatch * BATCH && FailOnce.ACCUMULATE.compareAndSet(false, true)) {
                throw new IllegalStateException("injected failure in the accumulator");
            }
            super.processElement(vote, ctx, out);
        }
    }

    /**
     * The update stage, noting each step's samples under its run: an accepted step's by the
     * checkpoint it wrote, with the checkpoint it started from; a dropped step's by its record (a
     * dropped step shares its version number with others, and an attempt a failure undid is made
     * again with a new time, so the committed record finds the attempt that made it).
     */
    static class RecordingUpdate extends UpdateModel {
        record Trained(String from, List<String> samples) {}

        static final Map<String, Trained> STEPS = new ConcurrentHashMap<>();
        static final Map<String, List<String>> DROPPED = new ConcurrentHashMap<>();
        /** How many subtasks of a run heard that a checkpoint completed, by run and checkpoint id. */
        static final Map<String, Integer> COMPLETED = new ConcurrentHashMap<>();
        private final String run;

        RecordingUpdate(JobConfig config, String run) {
            super(config.training(), config.release(), config.canary().rule(), config.retention(CLUSTER), ContinualKtoJob.deadLetters(config));
            this.run = run;
        }

        /** Waits until {@code subtasks} update stages of {@code run} were told that checkpoint {@code id} completed. */
        static void awaitCompleted(String run, long id, int subtasks) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
            while (COMPLETED.getOrDefault(run + "/" + id, 0) < subtasks) {
                assertThat(System.nanoTime()).as("checkpoint %d completed in time", id).isLessThan(deadline);
                Thread.sleep(50);
            }
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) {
            super.notifyCheckpointComplete(checkpointId);
            COMPLETED.merge(run + "/" + checkpointId, 1, Integer::sum);
        }

        static String key(String run, ModelUpdate step) {
            return String.join("/", run, step.getModelId(), Long.toString(step.getVersion()), Long.toString(step.getCreatedAt().toEpochMilli()));
        }

        @Override
        protected void stepped(CheckpointStore.Stored from, CheckpointStore.Stored to, ModelUpdate dropped, KtoBatch batch) {
            List<String> samples = batch.samples().stream().map(v -> FeedbackScenario.sample(v.responseId(), v.userId(), v.desirable())).toList();
            if (to != null) {
                STEPS.put(run + "/" + batch.modelId() + "/" + to.sha256(), new Trained(from.sha256(), samples));
            } else {
                DROPPED.put(key(run, dropped), samples);
            }
        }
    }

    static final class FailingUpdate extends RecordingUpdate {
        FailingUpdate(JobConfig config, String run) {
            super(config, run);
        }

        @Override
        protected void released(ModelUpdate decided) {
            if (decided.getRejectionReason() == null && decided.getVersion() == FailOnce.failAtVersion
                    && FailOnce.UPDATE.compareAndSet(false, true)) {
                throw new IllegalStateException("injected failure after writing " + decided.getUri());
            }
        }
    }

    /** The settled samples a record accounts for: those it trained on and those held out beside them. */
    static long accounted(ModelUpdate record) {
        return record.getFeedbackCount() + Math.round(record.getMetrics().getOrDefault(UpdateModel.HELD_OUT_SAMPLES, 0.0));
    }

    private static ModelUpdate decode(WireCodec<ModelUpdate> codec, byte[] bytes) {
        return ((Decoded.Valid<ModelUpdate>) codec.decode(bytes)).value();
    }

    /**
     * Invariants 1–3 on what was announced: exact counts, versions 1..N naming their parents,
     * immutable verified files; of those, the store keeps the last {@value #KEEP_RELEASES} releases
     * and, once the Flink checkpoints that could restore to them are past, deletes the others.
     */
    static void assertLineage(List<ModelUpdate> steps, FeedbackScenario scenario) throws Exception {
        Map<String, Long> counted = new HashMap<>();
        steps.forEach(s -> counted.merge(s.getModelId(), accounted(s), Long::sum));
        Map<String, Long> expected = new HashMap<>();
        scenario.expectedSamples.forEach((m, n) -> expected.put(m, (long) n));
        assertThat(counted).as("samples accounted per model by%n%s", steps.stream().map(s -> String.format("%s v%d<-v%d %d+%.0f %s",
                s.getModelId(), s.getVersion(), s.getParentVersion(), s.getFeedbackCount(),
                s.getMetrics().getOrDefault(UpdateModel.HELD_OUT_SAMPLES, 0.0), s.getRejectionReason() == null ? "released" : s.getRejectionReason()))
                .collect(Collectors.joining("\n"))).isEqualTo(expected);
        for (String model : scenario.expectedSamples.keySet()) {
            List<ModelUpdate> versions = steps.stream().filter(s -> s.getModelId().equals(model) && s.getRejectionReason() == null)
                    .sorted(Comparator.comparing(ModelUpdate::getVersion)).toList();
            assertThat(versions).as(model).isNotEmpty();
            for (int i = 0; i < versions.size(); i++) {
                ModelUpdate v = versions.get(i);
                assertThat(v.getVersion()).as(model).isEqualTo(i + 1);
                assertThat(v.getParentVersion()).as(model).isEqualTo(i);
                assertThat(CheckpointStore.manifestSha256(v.getFiles())).isEqualTo(v.getSha256());
                Path dir = Path.of(URI.create(v.getUri()));
                if (i >= versions.size() - KEEP_RELEASES) {
                    assertThat(CheckpointStore.hashFiles(dir)).as(v.getUri()).isEqualTo(v.getFiles());
                } else {
                    // Checkpoints go on every second: the one that left the version out and the retained one complete soon.
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                    while (Files.exists(dir) && System.nanoTime() < deadline) {
                        Thread.sleep(200);
                    }
                    assertThat(dir).as("%s@%d, older than the last %d releases", model, v.getVersion(), KEEP_RELEASES).doesNotExist();
                }
            }
            steps.stream().filter(s -> s.getModelId().equals(model) && s.getRejectionReason() != null)
                    .forEach(r -> assertThat(r.getVersion()).isEqualTo(r.getParentVersion() + 1));
        }
    }
}
