package dev.kaizen.cli.demo;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.UUID;

import me.tongfei.progressbar.ProgressBar;
import org.apache.commons.io.FileUtils;

import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.cli.ProgressBars;

/**
 * The demo's base model: the two-style task's SFT model, trained by Kaizen on first use and kept
 * under the cache directory in a folder named by a digest of the task (its text and its recipe),
 * so a changed task trains anew and an unchanged one is reused.
 */
final class BaseModelCache {

    private BaseModelCache() {}

    static Path ensure(Path cacheRoot, PrintWriter out) throws IOException {
        Path dir = cacheRoot.resolve("two-style-sft-" + taskDigest());
        if (Files.isRegularFile(dir.resolve("config.json"))) {
            out.printf("base model: %s (cached)%n", dir);
            return dir;
        }
        Files.createDirectories(cacheRoot);
        Path staging = cacheRoot.resolve(".staging-" + UUID.randomUUID());
        out.printf("base model: SFT-training the tiny model on the two-style task once (cached in %s)%n", dir);
        out.flush();
        ProgressBar[] bar = new ProgressBar[1];
        try {
            TwoStyleChat.writeSftModel(staging, step -> {
                if (bar[0] == null) {
                    bar[0] = ProgressBars.start("SFT", step.totalSteps());
                }
                bar[0].stepTo(step.step());
                bar[0].setExtraMessage(String.format("loss %.3f", step.metrics().getOrDefault("loss", Double.NaN)));
            });
            // Appears whole or not at all: an interrupted first run leaves only a staging folder.
            Files.move(staging, dir, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            if (bar[0] != null) {
                bar[0].close();
            }
            FileUtils.deleteQuietly(staging.toFile());
        }
        return dir;
    }

    private static String taskDigest() {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(TwoStyleChat.SFT_RECIPE.getBytes(StandardCharsets.UTF_8));
            for (String line : TwoStyleChat.corpus()) {
                md.update(line.getBytes(StandardCharsets.UTF_8));
            }
            return HexFormat.of().formatHex(md.digest()).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
