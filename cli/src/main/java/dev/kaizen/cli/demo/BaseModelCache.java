package dev.kaizen.cli.demo;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import me.tongfei.progressbar.ProgressBar;

import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.cli.ProgressBars;

/** The demo's base model: the two-style task's SFT model, trained on first use with a progress bar, then taken from the cache. */
final class BaseModelCache {

    private BaseModelCache() {}

    static Path ensure(Path cacheRoot, PrintWriter out) throws IOException {
        Path dir = TwoStyleChat.sftModelDir(cacheRoot);
        if (Files.isRegularFile(dir.resolve("config.json"))) {
            out.printf("base model: %s (cached)%n", dir);
            return dir;
        }
        out.printf("base model: SFT-training the tiny model on the two-style task once (cached in %s)%n", dir);
        out.flush();
        ProgressBar[] bar = new ProgressBar[1];
        try {
            return TwoStyleChat.sftModel(cacheRoot, step -> {
                if (bar[0] == null) {
                    bar[0] = ProgressBars.start("SFT", step.totalSteps());
                }
                bar[0].stepTo(step.step());
                bar[0].setExtraMessage(String.format("loss %.3f", step.metrics().getOrDefault("loss", Double.NaN)));
            });
        } finally {
            if (bar[0] != null) {
                bar[0].close();
            }
        }
    }
}
