package dev.kaizen.alignment.train;

import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import ai.djl.ndarray.NDManager;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.loss.LossOutput;

/**
 * What one trainer optimises: how a dataset row becomes model input ({@code E}, encoded once),
 * and the differentiable loss of a micro-batch of them. One implementation per objective; the
 * {@link Trainer} around it is the same for all.
 */
interface Objective<E> {

    E encode(Row row);

    LossOutput loss(List<E> batch, NDManager m);

    /**
     * Differentiates the batch's loss by handing it to {@code backward}, and returns its metrics. An
     * objective whose loss adds up over rows may hand a long batch over in parts, each part's graph
     * freed before the next is built, so a step holds one part's activations, not the batch's.
     */
    default Map<String, Double> differentiate(List<E> batch, NDManager m, Consumer<LossOutput> backward) {
        LossOutput out = loss(batch, m);
        backward.accept(out);
        return out.metrics();
    }

    /** The fewest rows a batch can hold: a last, smaller batch below it is dropped. */
    default int minBatch() {
        return 1;
    }

    /**
     * Computes now, without gradients, what {@link #loss} will read from a separate reference model
     * on {@code batch}, after what is already computed ahead; false, doing nothing, where there is none.
     */
    default boolean computeReferenceAhead(List<E> batch) {
        return false;
    }

    /** Closes the separate reference model once training's reads from it are all computed ahead. */
    default void closeReference() {}
}
