package dev.kaizen.jobs.continual;

import java.nio.file.Path;
import java.util.Map;

/**
 * Where an embedded MiniCluster keeps its scratch files (web uploads, extracted RPC jars, working
 * directories, spill files): under one folder the caller deletes, instead of the JVM's /tmp.
 */
public final class EmbeddedScratch {

    private EmbeddedScratch() {}

    /**
     * Flink options that put the scratch files under {@code dir}. RocksDB gets a folder of its own
     * near the top: under the working directory its instance paths pass RocksDB's length limit.
     */
    public static Map<String, String> flinkOptions(Path dir) {
        return Map.of("io.tmp.dirs", dir.resolve("tmp").toString(), "web.tmpdir", dir.resolve("web").toString(),
                "process.working-dir", dir.resolve("work").toString(), "state.backend.rocksdb.localdir", dir.resolve("rocksdb").toString());
    }
}
