package dev.kaizen.alignment.train;

import java.util.function.Supplier;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.model.NoGrad;
import dev.kaizen.alignment.score.PaddedBatch;

/**
 * The reference policy the preference losses measure against, never differentiated: a separate
 * frozen model with full fine-tuning, or with LoRA the policy itself with its adapter switched off.
 */
final class Reference {

    private final LlamaForCausalLM model;
    private final LoraAdapter adapter;

    private Reference(LlamaForCausalLM model, LoraAdapter adapter) {
        this.model = model;
        this.adapter = adapter;
    }

    /** {@code reference} may be null when {@code adapter} is not: the policy without its adapter is the reference. */
    static Reference of(LlamaForCausalLM policy, LlamaForCausalLM reference, LoraAdapter adapter, String objective) {
        if (reference == null && adapter == null) {
            throw new IllegalArgumentException("full fine-tuning with " + objective + " needs a reference model");
        }
        return reference != null ? new Reference(reference, null) : new Reference(policy, adapter);
    }

    /** Each sequence's summed log-probability of its completion tokens [B]. */
    NDArray completionSums(PaddedBatch batch, NDManager m) {
        return withoutGradient(() -> batch.completionSums(model, m));
    }

    /** Logits [N, vocab] at the batch's N positions that predict a completion token. */
    NDArray completionLogits(PaddedBatch batch, NDManager m) {
        return withoutGradient(() -> model.head(batch.completionHidden(model, m)));
    }

    private NDArray withoutGradient(Supplier<NDArray> forward) {
        try (NoGrad noGrad = NoGrad.enter()) {
            if (adapter == null) {
                return forward.get();
            }
            try (LoraAdapter.Scope off = adapter.disabled()) {
                return forward.get();
            }
        }
    }
}
