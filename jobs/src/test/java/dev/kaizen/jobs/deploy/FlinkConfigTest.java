package dev.kaizen.jobs.deploy;

import static org.assertj.core.api.Assertions.assertThat;


import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.JobManagerOptions;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.junit.jupiter.api.Test;

import dev.kaizen.jobs.continual.FlinkOptions;

/** deploy/flink/config.yaml says what its users think it says, in Flink's current vocabulary. */
class FlinkConfigTest {

    private static final Configuration CONFIG = GlobalConfiguration.loadConfiguration("../deploy/flink");

    @Test
    void everyKeyIsACurrentFlinkOption() {
        assertThat(CONFIG.keySet()).isNotEmpty();
        assertThat(FlinkOptions.current()).as("current Flink option keys").containsAll(CONFIG.keySet());
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
