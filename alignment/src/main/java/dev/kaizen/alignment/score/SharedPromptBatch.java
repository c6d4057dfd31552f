package dev.kaizen.alignment.score;

import java.util.Arrays;
import java.util.List;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.Rows;

/**
 * Pairs of sequences with one prompt (a row's answer and another answer to the same prompt), a row
 * a pair: the prompt once, the first completion, then the second, which attends to the prompt and
 * to itself only and is positioned as if it followed the prompt. One forward scores both, and the
 * prompt, most of a chat turn's tokens, is computed once instead of twice.
 * {@code branch} [B, T] is 0 for a prompt token, 1 and 2 for the completions', −1 for padding.
 */
public record SharedPromptBatch(long[][] ids, float[][] attention, long[][] positionIds, float[][] branch,
                                long[] predicting, long[] targets, float[][] rows) implements CompletionBatch {

    /**
     * {@code first.get(i)} and {@code second.get(i)} in one row, or null when some pair's prompts
     * differ (a long answer cut its prompt) or when the rows save less than a fifth of the two
     * batches' padded tokens: answers much longer than their prompts save little, and attention,
     * quadratic in a row's length, would cost more in the longer rows than that.
     */
    public static SharedPromptBatch of(List<Scorer.Sequence> first, List<Scorer.Sequence> second) {
        int n = first.size();
        int t = 0;
        long firstLength = 0;
        long secondLength = 0;
        for (int b = 0; b < n; b++) {
            Scorer.Sequence f = first.get(b);
            Scorer.Sequence s = second.get(b);
            int p = f.completionStart();
            if (s.completionStart() != p || !Arrays.equals(f.ids(), 0, p, s.ids(), 0, p)) {
                return null;
            }
            t = Math.max(t, f.ids().length + s.ids().length - p);
            firstLength = Math.max(firstLength, f.ids().length);
            secondLength = Math.max(secondLength, s.ids().length);
        }
        if (5L * t > 4 * (firstLength + secondLength)) {
            return null;
        }
        long[][] ids = new long[n][t];
        float[][] attention = new float[n][t];
        long[][] positions = new long[n][t];
        float[][] branch = new float[n][t];
        int completions = 0;
        for (int b = 0; b < n; b++) {
            completions += first.get(b).ids().length + second.get(b).ids().length - 2 * first.get(b).completionStart();
        }
        long[] predicting = new long[completions];
        long[] targets = new long[completions];
        float[][] rows = new float[2 * n][completions];
        int k = 0;
        for (int b = 0; b < n; b++) {
            Arrays.fill(branch[b], -1);
            int[] f = first.get(b).ids();
            int[] s = second.get(b).ids();
            int p = first.get(b).completionStart();
            for (int i = 0; i < f.length; i++) {
                ids[b][i] = f[i];
                positions[b][i] = i;
                branch[b][i] = i < p ? 0 : 1;
                if (i >= p) {
                    predicting[k] = (long) b * t + i - 1;
                    targets[k] = f[i];
                    rows[b][k++] = 1;
                }
            }
            for (int i = p; i < s.length; i++) {
                int at = f.length + i - p;
                ids[b][at] = s[i];
                positions[b][at] = i;
                branch[b][at] = 2;
                // The second completion's first token follows the prompt's last, as the first's does.
                predicting[k] = (long) b * t + (i == p ? p - 1 : at - 1);
                targets[k] = s[i];
                rows[n + b][k++] = 1;
            }
            Arrays.fill(attention[b], 0, f.length + s.length - p, 1);
        }
        return new SharedPromptBatch(ids, attention, positions, branch, predicting, targets, rows);
    }

    /** The first completions' sums, then the second's: [2B]. */
    @Override
    public NDArray completionSums(LlamaForCausalLM model, NDManager m) {
        long b = ids.length;
        long t = ids[0].length;
        NDArray branches = m.create(branch);
        NDArray queries = branches.reshape(b, 1, t, 1);
        NDArray keys = branches.reshape(b, 1, 1, t);
        NDArray causal = m.arange(0, t).reshape(1, t).lte(m.arange(0, t).reshape(t, 1));
        NDArray visible = causal.logicalAnd(keys.eq(0).logicalOr(keys.eq(queries))).toType(DataType.FLOAT32, false);
        NDArray hidden = model.model().forward(m.create(ids), m.create(attention), m.create(positionIds), visible);
        NDArray at = Rows.gather(m.create(predicting), hidden.reshape(-1, hidden.getShape().get(2)));
        return m.create(rows).matMul(TokenLogProbs.atPositions(model, at, m.create(targets)));
    }
}
