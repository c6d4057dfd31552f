package dev.kaizen.alignment.score;

import java.util.List;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import dev.kaizen.alignment.model.LlamaForCausalLM;

/**
 * Sequences right-padded into one batch, with the attention mask and the mask of positions that
 * predict completion tokens. Right padding keeps each row's positions as if it were alone.
 */
public record PaddedBatch(long[][] ids, float[][] attention, float[][] completionMask, int[] lengths) {

    public static PaddedBatch of(List<Scorer.Sequence> sequences) {
        int t = sequences.stream().mapToInt(s -> s.ids().length).max().orElseThrow();
        long[][] ids = new long[sequences.size()][t];
        float[][] attention = new float[sequences.size()][t];
        int[] lengths = new int[sequences.size()];
        int[] starts = new int[sequences.size()];
        for (int b = 0; b < sequences.size(); b++) {
            int[] seq = sequences.get(b).ids();
            for (int i = 0; i < seq.length; i++) {
                ids[b][i] = seq[i];
                attention[b][i] = 1;
            }
            lengths[b] = seq.length;
            starts[b] = sequences.get(b).completionStart();
        }
        return new PaddedBatch(ids, attention, TokenLogProbs.completionMask(lengths, starts, t), lengths);
    }

    /** Per-token log-probs [B, T−1] of this batch under {@code model}, differentiable when gradients are on. */
    public NDArray tokenLogProbs(LlamaForCausalLM model, NDManager m) {
        NDArray input = m.create(ids);
        return TokenLogProbs.of(model.forward(input, m.create(attention), null), input);
    }

    /** Sum over each row's completion tokens of their log-probs [B]. */
    public NDArray completionSums(LlamaForCausalLM model, NDManager m) {
        return tokenLogProbs(model, m).mul(m.create(completionMask)).sum(new int[] {1});
    }

    /** How many completion tokens each row has. */
    public float[] completionTokens() {
        float[] n = new float[completionMask.length];
        for (int b = 0; b < n.length; b++) {
            for (float v : completionMask[b]) {
                n[b] += v;
            }
        }
        return n;
    }
}
