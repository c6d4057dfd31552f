package dev.kaizen.alignment.score;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.NoGrad;

/** Per-token log-probabilities of completions given prompts, for a batch, without gradients. */
public final class Scorer {

    /** Token ids with the index of the first completion token (1 when the whole sequence is scored). */
    public record Sequence(int[] ids, int completionStart) {
        public Sequence {
            if (ids.length < 2 || completionStart < 1 || completionStart > ids.length) {
                throw new IllegalArgumentException("a scored sequence needs at least 2 ids and 1 ≤ completion_start ≤ "
                        + ids.length + "; got " + ids.length + " ids, completion_start " + completionStart);
            }
        }
    }

    /** logprobs[i−1] = log p(ids[i] | ids[&lt;i]) for i ≥ 1; completionSum adds those of completion tokens. */
    public record Scored(float[] logprobs, double completionSum) {}

    private Scorer() {}

    /** Scores the sequences in one right-padded batch. */
    public static List<Scored> score(LlamaForCausalLM model, List<Sequence> batch) {
        PaddedBatch padded = PaddedBatch.of(batch);
        int t = padded.ids()[0].length;
        float[] flat;
        try (NoGrad noGrad = NoGrad.enter(); NDScope scope = new NDScope(); NDManager m = model.manager().newSubManager()) {
            flat = padded.tokenLogProbs(model, m).toFloatArray();
        }
        List<Scored> out = new ArrayList<>();
        for (int b = 0; b < batch.size(); b++) {
            float[] row = Arrays.copyOfRange(flat, b * (t - 1), b * (t - 1) + padded.lengths()[b] - 1);
            double sum = 0;
            for (int i = 0; i < row.length; i++) {
                sum += padded.completionMask()[b][i] * row[i];
            }
            out.add(new Scored(row, sum));
        }
        return out;
    }
}
