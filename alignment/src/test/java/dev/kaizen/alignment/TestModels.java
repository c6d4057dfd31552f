package dev.kaizen.alignment;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

import dev.kaizen.alignment.model.ModelPresets;

/** A tiny preset model directory, written once per test JVM and shared by the tests that only read it. */
public final class TestModels {

    private static Path tiny;

    private TestModels() {}

    public static synchronized Path tiny() {
        if (tiny == null) {
            try {
                Path dir = Files.createTempDirectory("kaizen-tiny-");
                ModelPresets.TINY.write(dir, 1234);
                dir.toFile().deleteOnExit();
                tiny = dir;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return tiny;
    }
}
