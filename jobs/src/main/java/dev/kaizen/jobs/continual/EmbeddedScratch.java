package dev.kaizen.jobs.continual;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.commons.io.FileUtils;

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

    /**
     * Deletes {@code dir} when the JVM exits. Flink's own shutdown hooks run at the same time and
     * still delete and write under it, so one pass can fail halfway or be undone: it deletes until
     * the folder has stayed gone for half a second (ten seconds at most).
     */
    public static void deleteOnExit(Path dir) {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            int goneChecks = 0;
            while (goneChecks < 5 && System.nanoTime() < deadline) {
                if (Files.exists(dir)) {
                    goneChecks = 0;
                    FileUtils.deleteQuietly(dir.toFile());
                } else {
                    goneChecks++;
                }
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "kaizen-scratch"));
    }
}
