package dev.kaizen.cli;

import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Progress of long work: a bar redrawn in place on a terminal; where standard output is not one
 * (a log file, CI, a pipe), a whole line now and then, never a carriage return or a cut-off line.
 */
public final class ProgressBars {

    private static final int LOG_INTERVAL_MS = 10_000;
    private static final int LOG_LINE_LENGTH = 200;

    private ProgressBars() {}

    public static ProgressBar start(String task, long total) {
        ProgressBarBuilder bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(total).setStyle(ProgressBarStyle.ASCII);
        if (System.console() == null) {
            bar.setConsumer(new DelegatingProgressBarConsumer(System.err::println, LOG_LINE_LENGTH)).setUpdateIntervalMillis(LOG_INTERVAL_MS);
        }
        return bar.build();
    }
}
