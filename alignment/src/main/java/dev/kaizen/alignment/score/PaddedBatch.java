package dev.kaizen.alignment.score;

import java.util.List;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.Rows;

/**
 * Sequences right-padded into one batch, with the attention mask and the mask of positions that
 * predict completion tokens. Right padding keeps each row's positions as if it were alone.
 */
public record PaddedBatch(long[][] ids, float[][] attention, float[][] completionMask, int[] lengths) implements CompletionBatch {

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

    /**
     * Sum over each row's completion tokens of their log-probs [B]. The head and log-softmax run
     * only at the positions that predict a completion token: a prompt's positions cost the decoder
     * alone, and the vocabulary-wide tensors are as large as the answers, not the batch.
     */
    @Override
    public NDArray completionSums(LlamaForCausalLM model, NDManager m) {
        Completions c = completions();
        NDArray logProbs = TokenLogProbs.atPositions(model, completionHidden(model, c, m), m.create(c.targets()));
        return m.create(c.rows()).matMul(logProbs);
    }

    /** The final hidden states [N, hidden] at the N positions that predict a completion token, in row order. */
    public NDArray completionHidden(LlamaForCausalLM model, NDManager m) {
        return completionHidden(model, completions(), m);
    }

    private NDArray completionHidden(LlamaForCausalLM model, Completions c, NDManager m) {
        NDArray hidden = model.model().forward(m.create(ids), m.create(attention), null);
        NDArray flat = hidden.reshape(-1, hidden.getShape().get(2));
        return Rows.gather(m.create(c.positions()), flat);
    }

    /**
     * The positions that predict a completion token, flattened over [B, T] in row order; the ids
     * they predict; and [B, N] with 1 where position k belongs to row b, which sums them per row.
     */
    private Completions completions() {
        int t = ids[0].length;
        int n = 0;
        for (float tokens : completionTokens()) {
            n += (int) tokens;
        }
        long[] positions = new long[n];
        long[] targets = new long[n];
        float[][] rows = new float[ids.length][n];
        int k = 0;
        for (int b = 0; b < ids.length; b++) {
            for (int i = 0; i < t - 1; i++) {
                if (completionMask[b][i] > 0) {
                    positions[k] = (long) b * t + i;
                    targets[k] = ids[b][i + 1];
                    rows[b][k++] = 1;
                }
            }
        }
        return new Completions(positions, targets, rows);
    }

    private record Completions(long[] positions, long[] targets, float[][] rows) {}

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
