package dev.kaizen.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One run of {@code kaizen} as a process of its own, as a user runs it: real standard streams (a
 * missing flush or a picocli warning shows only there), with what it printed.
 */
record CliProcess(int exitCode, String out, String err) {

    static CliProcess of(String... args) throws Exception {
        Path out = Files.createTempFile("kaizen-out", ".txt");
        Path err = Files.createTempFile("kaizen-err", ".txt");
        try {
            List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx512m", "-cp", System.getProperty("java.class.path"), KaizenCommand.class.getName()));
            command.addAll(List.of(args));
            Process p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(2, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new AssertionError("kaizen " + String.join(" ", args) + " did not end within 2 minutes");
            }
            return new CliProcess(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
