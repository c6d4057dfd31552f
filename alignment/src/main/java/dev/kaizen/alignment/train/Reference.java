package dev.kaizen.alignment.train;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.function.Supplier;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.model.NoGrad;
import dev.kaizen.alignment.score.CompletionBatch;
import dev.kaizen.alignment.score.PaddedBatch;

/**
 * The reference policy the preference losses measure against, never differentiated: a separate
 * frozen model with full fine-tuning, or with LoRA the policy itself with its adapter switched off.
 * A separate model's sums can be computed ahead, in the order training will read them, and the
 * model closed: as TRL's {@code precompute_ref_log_probs}, but for the very batches training forms.
 */
final class Reference {

    /** Sums computed ahead for one batch, with its ids' hash to check it is read for that batch. */
    private record Ahead(int ids, float[] sums) {}

    private LlamaForCausalLM model;
    private final LoraAdapter adapter;
    private final Deque<Ahead> ahead = new ArrayDeque<>();

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

    /** Whether this reference is the policy with its adapter switched off. */
    boolean isPolicyWithAdapterOff() {
        return adapter != null;
    }

    /** Whether this reference is a model of its own, whose memory {@link #close} gives back. */
    boolean separate() {
        return adapter == null && model != null;
    }

    /** Computes now the sums {@link #completionSums} will be asked for on {@code batch}, next after those already ahead. */
    void computeAhead(CompletionBatch batch) {
        try (NDScope scope = new NDScope(); NDManager m = model.manager().newSubManager()) {
            ahead.add(new Ahead(Arrays.deepHashCode(batch.ids()), withoutGradient(() -> batch.completionSums(model, m)).toFloatArray()));
        }
    }

    /** Each sequence's summed log-probability of its completion tokens [B]: the next computed ahead, if any. */
    NDArray completionSums(CompletionBatch batch, NDManager m) {
        Ahead next = ahead.poll();
        if (next == null) {
            return withoutGradient(() -> batch.completionSums(live(), m));
        }
        if (next.ids() != Arrays.deepHashCode(batch.ids())) {
            throw new IllegalStateException("reference sums computed ahead for another batch than the one training formed");
        }
        return m.create(next.sums());
    }

    /** The final hidden states [N, hidden] at the batch's N positions that predict a completion token. */
    NDArray completionHidden(PaddedBatch batch, NDManager m) {
        return withoutGradient(() -> batch.completionHidden(live(), m));
    }

    /** The head's logits [N, vocab] on hidden states {@link #completionHidden} gave. */
    NDArray head(NDArray hidden) {
        return withoutGradient(() -> live().head(hidden));
    }

    /** Closes a separate model once what training reads from it is computed ahead; the policy is never closed here. */
    void close() {
        if (separate()) {
            model.close();
            model = null;
        }
    }

    private LlamaForCausalLM live() {
        if (model == null) {
            throw new IllegalStateException("the reference model was closed once its sums for training were computed ahead");
        }
        return model;
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
