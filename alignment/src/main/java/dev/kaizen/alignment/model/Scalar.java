package dev.kaizen.alignment.model;

import ai.djl.ndarray.NDArray;

/**
 * A float32 scalar array for arithmetic on a tensor that gradients flow through. DJL's
 * {@code mul(Number)} and its kin wrap a Java buffer in place and close it straight after the op,
 * but autograd keeps the scalar for backward (∂(x·s)/∂x = s) and would then read freed memory; a
 * double would also promote the result to float64. This array lives in the caller's scope and
 * manager instead, past backward.
 */
public final class Scalar {

    private Scalar() {}

    public static NDArray of(NDArray like, double value) {
        return like.getManager().create((float) value);
    }
}
