package dev.kaizen.jobs.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.JobManagerOptions;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.junit.jupiter.api.Test;

/** deploy/flink/config.yaml says what its users think it says, in Flink's current vocabulary. */
class FlinkConfigTest {

    private static final Configuration CONFIG = GlobalConfiguration.loadConfiguration("../deploy/flink");

    @Test
    void everyKeyIsACurrentFlinkOption() {
        Set<String> known = Stream.of(CheckpointingOptions.class, StateBackendOptions.class,
                        RestartStrategyOptions.class, CoreOptions.class, TaskManagerOptions.class, JobManagerOptions.class)
                .flatMap(c -> Stream.of(c.getFields()))
                .filter(f -> Modifier.isStatic(f.getModifiers()) && f.getType() == ConfigOption.class)
                .filter(f -> !f.isAnnotationPresent(Deprecated.class))
                .map(FlinkConfigTest::key)
                .collect(Collectors.toSet());
        assertThat(CONFIG.keySet()).isNotEmpty();
        assertThat(known).as("current Flink option keys").containsAll(CONFIG.keySet());
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

    private static String key(Field field) {
        try {
            return ((ConfigOption<?>) field.get(null)).key();
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }
}
