package dev.kaizen.jobs.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.loss.KtoLoss;
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

    @Test
    void printConfigShowsTheResolvedOptions() {
        CliRun run = CliRun.of("job", "-D", "batches.size=7", "--print-config");
        assertThat(run.exitCode()).isZero();
        assertThat(run.out()).contains("size: 7").contains("lateness: 10 min").contains("model-updates: model-updates");
    }
}
