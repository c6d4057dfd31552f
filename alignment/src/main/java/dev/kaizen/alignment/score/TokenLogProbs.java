package dev.kaizen.alignment.score;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.jni.JniUtils;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.Scoped;

/** The quantity every loss is built from: log p(token | the tokens before it). */
public final class TokenLogProbs {

    private TokenLogProbs() {}

    /**
     * logits [B, T, V] of a forward over ids [B, T] → [B, T−1], where entry (b, i) is
     * log p(ids[b, i+1] | ids[b, ≤ i]). Differentiable, so the trainer uses it as is.
     */
    public static NDArray of(NDArray logits, NDArray ids) {
        long t = ids.getShape().get(1);
        return ofTargets(logits.get(":, :" + (t - 1) + ", :"), ids.get(":, 1:"));
    }

    /** logits [..., V] and target ids [...] → log p(target) [...]. */
    static NDArray ofTargets(NDArray logits, NDArray targets) {
        return logits.logSoftmax(-1).gather(targets.toType(DataType.INT64, false).expandDims(-1), -1).squeeze(-1);
    }

    /**
     * hidden [N, hidden] at N positions and the ids [N] they predict → log p(id) [N], through the
     * model's head. Without gradients the rows go in chunks whose logits take about {@link #CHUNK_LOGITS}
     * floats, each chunk's freed before the next: a forward over long answers never holds [N, vocab].
     * With gradients log-softmax keeps its [N, vocab] output for backward whatever the chunking.
     */
    public static NDArray atPositions(LlamaForCausalLM model, NDArray hidden, NDArray targets) {
        return atPositions(model, hidden, targets, CHUNK_LOGITS);
    }

    static NDArray atPositions(LlamaForCausalLM model, NDArray hidden, NDArray targets, long chunkLogits) {
        long n = hidden.getShape().get(0);
        long rows = Math.max(1, chunkLogits / model.config().vocabSize());
        if (JniUtils.isGradMode() || n <= rows) {
            return logProbsFreeingLogits(model, hidden, targets);
        }
        NDList chunks = new NDList();
        for (long from = 0; from < n; from += rows) {
            String slice = from + ":" + Math.min(n, from + rows);
            chunks.add(logProbsFreeingLogits(model, hidden.get(slice), targets.get(slice)));
        }
        NDArray all = NDArrays.concat(chunks);
        chunks.close();
        return all;
    }

    /** The logits are closed on return; backward, if any, keeps log-softmax's output by reference count. */
    private static NDArray logProbsFreeingLogits(LlamaForCausalLM model, NDArray hidden, NDArray targets) {
        return Scoped.only(() -> ofTargets(model.head(hidden), targets));
    }

    /** Floats of logits a chunk of {@link #atPositions} may hold: 64 MiB. */
    static final long CHUNK_LOGITS = 16L << 20;

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
