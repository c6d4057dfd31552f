package dev.kaizen.alignment.score;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import dev.kaizen.alignment.model.LlamaForCausalLM;

/** Sequences in one batch whose completions a model scores together. */
public interface CompletionBatch {

    /** The batch's token ids as laid out, which identify it. */
    long[][] ids();

    /** Each completion's summed log-probability under {@code model}, differentiable when gradients are on. */
    NDArray completionSums(LlamaForCausalLM model, NDManager m);
}
