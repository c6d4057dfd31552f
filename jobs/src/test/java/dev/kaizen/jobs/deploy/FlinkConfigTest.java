package dev.kaizen.jobs.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ServiceLoader;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.JobManagerOptions;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.metrics.prometheus.PrometheusReporterFactory;
import org.apache.flink.metrics.reporter.MetricReporterFactory;
import org.junit.jupiter.api.Test;

import dev.kaizen.jobs.continual.FlinkOptions;

/** deploy/flink/config.yaml says what its users think it says, in Flink's current vocabulary. */
class FlinkConfigTest {

    private static final String PROM = "metrics.reporter.prom.";

    private static final Configuration CONFIG = GlobalConfiguration.loadConfiguration("../deploy/flink");

    @Test
    void everyKeyIsACurrentFlinkOption() {
        assertThat(CONFIG.keySet()).isNotEmpty();
        assertThat(FlinkOptions.current()).as("current Flink option keys")
                .containsAll(CONFIG.keySet().stream().filter(k -> !k.startsWith(PROM)).toList());
    }

    /** A reporter's keys are a template Flink fills with its name: checked here against the reporter itself. */
    @Test
    void everyProcessServesItsMetricsToPrometheus() {
        assertThat(CONFIG.keySet().stream().filter(k -> k.startsWith(PROM)))
                .containsExactlyInAnyOrder(PROM + "factory.class", PROM + "port");
        assertPrometheusReporter(CONFIG.getString(PROM + "factory.class", null), CONFIG.getString(PROM + "port", null));
    }

    /** {@code factoryClass} is Flink's Prometheus reporter's, found as Flink finds reporters, and {@code port} one it can listen on. */
    static void assertPrometheusReporter(String factoryClass, String port) {
        assertThat(ServiceLoader.load(MetricReporterFactory.class).stream().map(p -> p.type().getName()))
                .contains(factoryClass).contains(PrometheusReporterFactory.class.getName());
        assertThat(factoryClass).isEqualTo(PrometheusReporterFactory.class.getName());
        assertThat(Integer.parseInt(port)).isBetween(1024, 65535);
    }

    @Test
    void stateLivesInRocksDbWithExactlyOnceCheckpoints() {
        assertThat(CONFIG.get(StateBackendOptions.STATE_BACKEND)).isEqualTo("rocksdb");
        assertThat(CONFIG.get(CheckpointingOptions.INCREMENTAL_CHECKPOINTS)).isTrue();
        assertThat(CONFIG.get(CheckpointingOptions.CHECKPOINTING_INTERVAL)).isPositive();
        assertThat(CONFIG.get(CheckpointingOptions.CHECKPOINTING_CONSISTENCY_MODE)).hasToString("EXACTLY_ONCE");
    }

    /** This file replaces the image's config.yaml, so it must carry what a TaskManager needs to start on JDK 17. */
    @Test
    void processesStartOnJdk17WithMemorySizesAndNoDownloads() {
        assertThat(CONFIG.get(TaskManagerOptions.TOTAL_PROCESS_MEMORY)).isNotNull();
        assertThat(CONFIG.get(JobManagerOptions.TOTAL_PROCESS_MEMORY)).isNotNull();
        assertThat(CONFIG.get(CoreOptions.FLINK_DEFAULT_JVM_OPTIONS)).contains("--add-opens=java.base/java.util=ALL-UNNAMED",
                "--add-opens=java.base/java.lang=ALL-UNNAMED");
        assertThat(CONFIG.get(CoreOptions.FLINK_JVM_OPTIONS)).contains("-Dai.djl.offline=true");
    }
}
