package dev.kaizen.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.embeddedkafka.EmbeddedKafka;
import dev.kaizen.jobs.continual.JobConfig;

/** kaizen.yaml over the documented defaults, -D overrides, and clear refusals naming the option. */
class JobCommandTest {

    @TempDir
    Path dir;

    @Test
    void aFileNamesOnlyWhatItChangesAndOverridesComeLast() throws Exception {
        Path file = dir.resolve("kaizen.yaml");
        Files.writeString(file, """
                kafka:
                  bootstrap-servers: broker-1:9093
                  properties:
                    security.protocol: SASL_SSL
                batches: {size: 32}
                training:
                  base-model-dir: /models/base
                  loss-type: apo_zero_unpaired
                flink:
                  execution.checkpointing.interval: 5s
                """);
        JobConfig c = JobConfig.load(file, List.of("training.learning-rate=1e-4", "settle.lateness=2min",
                "flink.parallelism.default=4", "kafka.properties.sasl.mechanism=PLAIN"));
        assertThat(c.kafka().bootstrapServers()).isEqualTo("broker-1:9093");
        assertThat(c.kafka().properties()).containsEntry("security.protocol", "SASL_SSL").containsEntry("sasl.mechanism", "PLAIN");
        assertThat(c.kafka().groupId()).isEqualTo("kaizen-continual-kto");
        assertThat(c.batches().size()).isEqualTo(32);
        assertThat(c.batches().timeout()).isEqualTo(Duration.ofSeconds(60));
        assertThat(c.training().learningRate()).isEqualTo(1e-4);
        assertThat(c.training().lossType()).isEqualTo(KtoLoss.Type.APO_ZERO_UNPAIRED);
        assertThat(c.training().baseModel()).isEqualTo("/models/base");
        assertThat(c.trains()).isTrue();
        assertThat(c.settle().lateness()).isEqualTo(Duration.ofMinutes(2));
        assertThat(c.topics().modelUpdates()).isEqualTo("model-updates");
        assertThat(c.flink()).containsEntry("execution.checkpointing.interval", "5s").containsEntry("parallelism.default", "4")
                .containsEntry("state.backend.type", "rocksdb");
        // What --print-config writes reads back as the same configuration.
        Path printed = dir.resolve("printed.yaml");
        Files.writeString(printed, c.toYaml());
        assertThat(JobConfig.load(printed, List.of())).isEqualTo(c);
    }

    @Test
    void theDefaultsDoNotTrain() throws Exception {
        assertThat(JobConfig.load(null, List.of()).trains()).isFalse();
    }

    @Test
    void mistakesAreRefusedNamingTheOption() throws Exception {
        Path file = dir.resolve("bad.yaml");
        Files.writeString(file, "batches: {sise: 4}\n");
        assertThatThrownBy(() -> JobConfig.load(file, List.of())).hasMessageContaining("unknown option 'batches.sise'");
        assertThatThrownBy(() -> JobConfig.load(null, List.of("training.rate=1"))).hasMessageContaining("unknown option 'training.rate'");
        assertThatThrownBy(() -> JobConfig.load(null, List.of("settle.lateness=soon")))
                .hasMessageContaining("'soon' is not a duration").hasMessageContaining("settle.lateness");
        assertThatThrownBy(() -> JobConfig.load(null, List.of("batches.size=many"))).hasMessageContaining("batches.size");
        assertThatThrownBy(() -> JobConfig.load(null, List.of("no-equals-sign"))).hasMessageContaining("key=value");
        CliRun run = CliRun.of("job", "--config", file.toString());
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.err()).contains("unknown option 'batches.sise'");
    }

    /** As a user runs it, in a process of its own: what it prints must reach standard output before exit. */
    @Test
    void printConfigShowsTheResolvedOptions() throws Exception {
        CliProcess run = CliProcess.of("job", "-D", "batches.size=7", "--print-config");
        assertThat(run.exitCode()).as(run.err()).isZero();
        assertThat(run.out()).contains("size: 7").contains("lateness: 10 min").contains("model-updates: model-updates")
                .contains("max-future-skew: 5 min");
    }

    /** Values no run could do well with are refused, each naming its option and the file. */
    @Test
    void carelessValuesAreRefusedNamingTheOptionAndTheFile() throws Exception {
        Map<String, String> refused = new java.util.HashMap<>(Map.of(
                "training: {learning-rate: -1e-4}", "option 'training.learning-rate' must be a positive number",
                "training: {kl-budget: -0.5}", "option 'training.kl-budget' must be a positive number",
                "training: {beta: 0}", "option 'training.beta' must be a positive number",
                "batches: {size: 1}", "option 'batches.size' must be at least 2",
                "user-cap-per-hour: 0", "option 'user-cap-per-hour' must be at least 1",
                "event-time: {max-future-skew: -5s}", "'-5s' is not a duration (like 500ms, 30s, 10min, 1h) (at event-time.max-future-skew)",
                "batches: {timeout: 0s}", "option 'batches.timeout' must be positive",
                "flink: {execution.checkpointing.intervall: 5s}", "'flink.execution.checkpointing.intervall' is not a Flink option",
                "kafka: {transaction-timeout: 5min}", "option 'kafka.transaction-timeout' (5 min) must exceed the checkpoint interval "
                        + "plus the checkpoint timeout (30 s + 10 min)",
                "- kafka\n- training", "must be a mapping of options"));
        refused.putAll(Map.of(
                "release: {every-steps: 0}", "option 'release.every-steps' must be at least 1",
                "release: {max-wait: 0s}", "option 'release.max-wait' must be positive",
                "release: {max-golden-nll-increase: -0.1}", "option 'release.max-golden-nll-increase' must be a non-negative number",
                "release: {max-answer-length-factor: 0.9}", "option 'release.max-answer-length-factor' must be a number of at least 1",
                "release: {min-distinct2-ratio: 1.5}", "option 'release.min-distinct2-ratio' must lie in [0, 1]",
                "release: {holdout-fraction: 1}", "option 'release.holdout-fraction' must lie in [0, 1)",
                "release: {holdout-size: 1}", "option 'release.holdout-size' must be at least 2",
                "release: {max-holdout-loss-increase: -1}", "option 'release.max-holdout-loss-increase' must be a non-negative number",
                "store: {keep-releases: 0}", "option 'store.keep-releases' must be at least 1"));
        refused.putAll(Map.of(
                "canary: {min-votes: 500}", "options 'canary.min-votes', 'canary.look-every' and 'canary.max-votes' must satisfy",
                "canary: {alpha: 0.5}", "option 'canary.alpha' must lie in (0, 0.5)",
                "canary: {margin: -0.1}", "option 'canary.margin' must lie in [0, 1)"));
        for (var c : refused.entrySet()) {
            Path file = dir.resolve("careless.yaml");
            Files.writeString(file, c.getKey().replace("\\n", "\n") + "\n");
            assertThatThrownBy(() -> JobConfig.load(file, List.of())).as(c.getKey()).hasMessageStartingWith(file + ": ")
                    .hasMessageContaining(c.getValue());
        }
        assertThatThrownBy(() -> JobConfig.load(null, List.of("training.learning-rate=-1")))
                .hasMessageContaining("option 'training.learning-rate' must be a positive number");
    }

    /** Flink's dynamic families are not constants in its registry; their keys pass, as do current and deprecated options. */
    @Test
    void flinkKeysAreCheckedAgainstFlinksRegistryWithItsDynamicFamilies() throws Exception {
        Path file = dir.resolve("flink.yaml");
        Files.writeString(file, """
                flink:
                  metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory
                  external-resource.gpu.amount: "1"
                  s3.access-key: key
                  state.backend.rocksdb.memory.managed: "true"
                  restart-strategy.type: fixed-delay
                """);
        assertThat(JobConfig.load(file, List.of()).flink()).containsKey("s3.access-key");
    }

    /**
     * Started against a broker that is not there, the job says so within seconds and runs on; stopped
     * as Ctrl-C stops it, it leaves nothing in the temporary directory (Flink's web uploads, RPC
     * jars and MiniCluster folders went to a scratch folder of its own).
     */
    @Test
    void withoutABrokerTheJobSaysSoAtOnceAndLeavesNoScratchFilesBehind() throws Exception {
        Path tmp = Files.createDirectories(dir.resolve("java-tmp"));
        Path log = dir.resolve("job.log");
        Process job = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx1g",
                "-Djava.io.tmpdir=" + tmp,
                // The command line's own logging, not the test class path's (Flink's test jars there silence everything).
                "-Dlog4j2.configurationFile=" + JobCommandTest.class.getResource("/log4j2.xml"), "-cp", System.getProperty("java.class.path"), KaizenCommand.class.getName(), "job",
                "-D", "kafka.bootstrap-servers=127.0.0.1:" + dev.kaizen.embeddedkafka.FreePort.onLoopback(),
                "-D", "flink.execution.checkpointing.dir=" + dir.resolve("checkpoints").toUri())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
            while (!Files.readString(log).contains("does not answer")) {
                assertThat(System.nanoTime()).as("the job says Kafka does not answer:%n%s", Files.readString(log)).isLessThan(deadline);
                Thread.sleep(200);
            }
            Thread.sleep(3_000);
            assertThat(job.isAlive()).as("it runs on, retrying").isTrue();
            assertThat(Files.readString(log)).as("Flink's known metric name collision is quieted").doesNotContain("Name collision");
            job.destroy();
            assertThat(job.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        } finally {
            job.destroyForcibly();
        }
        try (var left = Files.list(tmp)) {
            assertThat(left.map(p -> p.getFileName().toString())).as("left in java.io.tmpdir").isEmpty();
        }
    }

    /** On a broker without Kaizen's topics the job does not start: its sinks would create them with the broker's defaults. */
    @Test
    void withoutItsTopicsTheJobDoesNotStartAndCreatesNone() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            CliRun run = CliRun.of("job", "-D", "kafka.bootstrap-servers=" + kafka.bootstrapServers());
            assertThat(run.exitCode()).isEqualTo(1);
            assertThat(run.err()).contains("do not exist at " + kafka.bootstrapServers()).contains("kaizen topics create");
            assertThat(kafka.admin().listTopics().names().get()).isEmpty();
        }
    }

    @Test
    void aMissingFileAndBrokenYamlAreNamedByFileAndLine() throws Exception {
        Path missing = dir.resolve("nope.yaml");
        assertThatThrownBy(() -> JobConfig.load(missing, List.of())).hasMessage(missing + ": no such file");
        Path broken = dir.resolve("broken.yaml");
        Files.writeString(broken, "kafka:\n  bootstrap-servers: a:1\n training: [unclosed\n");
        assertThatThrownBy(() -> JobConfig.load(broken, List.of())).hasMessageStartingWith(broken + ":3: not valid YAML")
                .hasMessageNotContaining("reader").hasMessageNotContaining("Source:");
        CliRun run = CliRun.of("job", "--config", missing.toString());
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.err()).contains(missing + ": no such file");
    }
}
