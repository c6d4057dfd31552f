package dev.kaizen.operators.release;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.data.TrlDataset;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.train.Trainer;

/**
 * What a candidate must pass before it is announced. The golden set: the team's prompts with the
 * completions the model must keep giving; votes cannot move it, so a brigade or a buggy client
 * cannot drag the model away from it. The candidate's mean NLL per completion token may exceed
 * the last release's (the base model's, before the first release) by at most the tolerance.
 */
public final class ReleaseGate {

    public static final String GOLDEN_NLL = "eval/golden_nll";
    public static final String GOLDEN_NLL_BASELINE = "eval/golden_nll_baseline";
    public static final String GOLDEN_SKIPPED = "eval/golden_skipped";
    public static final String REFUSAL_PREFIX = "eval-gate: ";

    /** The gate's figures, for the release's metrics, and why it refused, or null when it passed. */
    public record Verdict(Map<String, Double> metrics, String refusal) {
        public boolean passed() {
            return refusal == null;
        }
    }

    private final List<Row> golden;
    private final double maxIncrease;

    public ReleaseGate(List<Row> golden, double maxIncrease) {
        this.golden = List.copyOf(golden);
        this.maxIncrease = maxIncrease;
    }

    /** The gate of {@code config}, its golden set read (and checked, naming file and line) from the TaskManager's disk. */
    public static ReleaseGate of(ReleaseConfig config) {
        List<Row> golden = config.goldenSet() == null ? List.of()
                : TrlDataset.read(Path.of(config.goldenSet()), TrlDataset.Format.SFT, false, skipped -> { }).rows();
        return new ReleaseGate(golden, config.maxGoldenNllIncrease());
    }

    /**
     * Judges the model {@code candidate} holds against {@code lastRelease}'s gate figures (null for
     * the first release, or a release that has none: then the base model is the baseline).
     */
    public Verdict judge(Trainer candidate, Map<String, Double> lastRelease) {
        Map<String, Double> metrics = new TreeMap<>();
        if (golden.isEmpty()) {
            metrics.put(GOLDEN_SKIPPED, 1.0);
            return new Verdict(metrics, null);
        }
        double nll = candidate.completionNll(golden);
        Double baseline = lastRelease == null ? null : lastRelease.get(GOLDEN_NLL);
        if (baseline == null) {
            try (LoraAdapter.Scope base = candidate.adapter().disabled()) {
                baseline = candidate.completionNll(golden);
            }
        }
        metrics.put(GOLDEN_NLL, nll);
        metrics.put(GOLDEN_NLL_BASELINE, baseline);
        // A NaN fails this comparison too.
        if (!(nll - baseline <= maxIncrease)) {
            return new Verdict(metrics, String.format(Locale.ROOT, "%sgolden-nll rose %.4f nats/token (%.4f -> %.4f), over the allowed %.4f",
                    REFUSAL_PREFIX, nll - baseline, baseline, nll, maxIncrease));
        }
        return new Verdict(metrics, null);
    }
}
