package dev.kaizen.operators.release;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.data.TrlDataset;
import dev.kaizen.alignment.generate.Generator;
import dev.kaizen.alignment.generate.SamplingParams;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.alignment.train.Trainer;

/**
 * What a candidate must pass before it is announced. On the golden set, the team's prompts with
 * the completions the model must keep giving (votes cannot move it, so a brigade or a buggy client
 * cannot drag the model away from it), against the last release (the base model before the first):
 * the mean NLL per golden completion token may rise by at most a tolerance; the greedy answers to
 * the golden prompts may change in mean length by at most a factor either way (verbosity creep is
 * the first symptom of optimising for thumbs), and their distinct-2 may not fall below a share of
 * the baseline's (repetition). On the held-out samples, votes that never trained: the candidate's
 * KTO loss may exceed the last release's on the same samples by at most a tolerance.
 */
public final class ReleaseGate {

    public static final String GOLDEN_NLL = "eval/golden_nll";
    public static final String GOLDEN_NLL_BASELINE = "eval/golden_nll_baseline";
    public static final String ANSWER_TOKENS = "eval/answer_tokens";
    public static final String ANSWER_TOKENS_BASELINE = "eval/answer_tokens_baseline";
    public static final String DISTINCT_2 = "eval/distinct_2";
    public static final String DISTINCT_2_BASELINE = "eval/distinct_2_baseline";
    public static final String GOLDEN_SKIPPED = "eval/golden_skipped";
    public static final String HOLDOUT_SKIPPED = "eval/holdout_skipped";
    public static final String EVAL_LOSS = "eval_loss";
    public static final String EVAL_LOSS_BASELINE = "eval_loss_baseline";
    public static final String REFUSAL_PREFIX = "eval-gate: ";
    /** Greedy answers to the golden prompts stop here: long enough to see an answer grow. */
    static final int MAX_ANSWER_TOKENS = 64;

    /** The gate's figures, for the release's metrics, and why it refused, or null when it passed. */
    public record Verdict(Map<String, Double> metrics, String refusal) {
        public boolean passed() {
            return refusal == null;
        }
    }

    private final List<Row> golden;
    private final ReleaseConfig config;
    private final LlamaForCausalLM model;
    private final ChatTokenizer tokenizer;

    /** {@code model} is the one the candidate's adapter is attached to. */
    public ReleaseGate(List<Row> golden, ReleaseConfig config, LlamaForCausalLM model, ChatTokenizer tokenizer) {
        this.golden = List.copyOf(golden);
        this.config = config;
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /** The gate of {@code config}, its golden set read (and checked, naming file and line) from the TaskManager's disk. */
    public static ReleaseGate of(ReleaseConfig config, LlamaForCausalLM model, ChatTokenizer tokenizer) {
        List<Row> golden = config.goldenSet() == null ? List.of()
                : TrlDataset.read(Path.of(config.goldenSet()), TrlDataset.Format.SFT, false, skipped -> { }).rows();
        return new ReleaseGate(golden, config, model, tokenizer);
    }

    /**
     * Judges the model {@code candidate} holds against {@code lastRelease}'s gate figures (null for
     * the first release, or for a release that has none: then the base model is the baseline), and
     * on the held-out samples ({@code heldOut}) against {@code heldOutBaseline}, the last release's
     * KTO loss on them (null: the base model's). A check without at least its data is skipped, and
     * says so in the metrics.
     */
    public Verdict judge(Trainer candidate, Map<String, Double> lastRelease, List<Row> heldOut, Double heldOutBaseline) {
        Map<String, Double> metrics = new TreeMap<>();
        String refusal = null;
        if (golden.isEmpty()) {
            metrics.put(GOLDEN_SKIPPED, 1.0);
        } else {
            figures(candidate, metrics, "");
            if (lastRelease != null && lastRelease.containsKey(GOLDEN_NLL) && lastRelease.containsKey(ANSWER_TOKENS)
                    && lastRelease.containsKey(DISTINCT_2)) {
                for (String name : List.of(GOLDEN_NLL, ANSWER_TOKENS, DISTINCT_2)) {
                    metrics.put(name + "_baseline", lastRelease.get(name));
                }
            } else {
                try (LoraAdapter.Scope base = candidate.adapter().disabled()) {
                    figures(candidate, metrics, "_baseline");
                }
            }
            refusal = goldenRefusal(metrics);
        }
        if (heldOut.size() < 2) {
            metrics.put(HOLDOUT_SKIPPED, 1.0);
        } else {
            metrics.putAll(candidate.evaluate(heldOut));
            double baseline;
            if (heldOutBaseline != null) {
                baseline = heldOutBaseline;
            } else {
                try (LoraAdapter.Scope base = candidate.adapter().disabled()) {
                    baseline = candidate.evaluate(heldOut).get(EVAL_LOSS);
                }
            }
            metrics.put(EVAL_LOSS_BASELINE, baseline);
            double loss = metrics.get(EVAL_LOSS);
            if (refusal == null && !(loss - baseline <= config.maxHoldoutLossIncrease())) {
                refusal = format("holdout-loss rose %.4f (%.4f -> %.4f on %d held-out samples), over the allowed %.4f",
                        loss - baseline, baseline, loss, heldOut.size(), config.maxHoldoutLossIncrease());
            }
        }
        return new Verdict(metrics, refusal);
    }

    private void figures(Trainer candidate, Map<String, Double> metrics, String suffix) {
        metrics.put(GOLDEN_NLL + suffix, candidate.completionNll(golden));
        Generator generator = new Generator(model, tokenizer);
        SamplingParams greedy = new SamplingParams(MAX_ANSWER_TOKENS, 0, 0, 1, 0, List.of(), true);
        List<int[]> answers = new ArrayList<>();
        for (Row row : golden) {
            answers.add(generator.generate(tokenizer.encodePrompt(row.prompt()), greedy, text -> { }).ids());
        }
        metrics.put(ANSWER_TOKENS + suffix, Degeneration.meanLength(answers));
        metrics.put(DISTINCT_2 + suffix, Degeneration.distinct2(answers));
    }

    /** The first golden-set check the figures fail, with them, or null. Comparisons are written so that a NaN fails them. */
    private String goldenRefusal(Map<String, Double> m) {
        double nll = m.get(GOLDEN_NLL);
        double nllBase = m.get(GOLDEN_NLL_BASELINE);
        if (!(nll - nllBase <= config.maxGoldenNllIncrease())) {
            return format("golden-nll rose %.4f nats/token (%.4f -> %.4f), over the allowed %.4f",
                    nll - nllBase, nllBase, nll, config.maxGoldenNllIncrease());
        }
        double length = m.get(ANSWER_TOKENS);
        double lengthBase = Math.max(1, m.get(ANSWER_TOKENS_BASELINE));
        double factor = config.maxAnswerLengthFactor();
        if (!(length <= lengthBase * factor && length >= lengthBase / factor)) {
            return format("answer-length changed %.2fx (%.1f -> %.1f tokens), over the allowed %.2fx",
                    length / lengthBase, lengthBase, length, factor);
        }
        double distinct = m.get(DISTINCT_2);
        double distinctBase = m.get(DISTINCT_2_BASELINE);
        if (!(distinct >= distinctBase * config.minDistinct2Ratio())) {
            return format("distinct-2 fell to %.3f from %.3f, under the allowed %.2f of it", distinct, distinctBase,
                    config.minDistinct2Ratio());
        }
        return null;
    }

    private static String format(String pattern, Object... args) {
        return REFUSAL_PREFIX + String.format(Locale.ROOT, pattern, args);
    }
}
