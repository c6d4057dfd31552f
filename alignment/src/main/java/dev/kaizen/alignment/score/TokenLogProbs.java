package dev.kaizen.alignment.score;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/** The quantity every loss is built from: log p(token | the tokens before it). */
public final class TokenLogProbs {

    private TokenLogProbs() {}

    /**
     * logits [B, T, V] of a forward over ids [B, T] → [B, T−1], where entry (b, i) is
     * log p(ids[b, i+1] | ids[b, ≤ i]). Differentiable, so the trainer uses it as is.
     */
    public static NDArray of(NDArray logits, NDArray ids) {
        long t = ids.getShape().get(1);
        NDArray targets = ids.get(":, 1:").toType(DataType.INT64, false).expandDims(-1);
        return logits.get(":, :" + (t - 1) + ", :").logSoftmax(-1).gather(targets, -1).squeeze(-1);
    }

    /**
     * [B, T−1] mask of the positions that predict completion tokens: target index i+1 lies in
     * [completionStart[b], length[b]). Prompt tokens and right padding are 0.
     */
    public static float[][] completionMask(int[] lengths, int[] completionStarts, int t) {
        float[][] mask = new float[lengths.length][t - 1];
        for (int b = 0; b < lengths.length; b++) {
            for (int i = Math.max(0, completionStarts[b] - 1); i < lengths[b] - 1; i++) {
                mask[b][i] = 1;
            }
        }
        return mask;
    }
}
