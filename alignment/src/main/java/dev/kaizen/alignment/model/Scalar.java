package dev.kaizen.alignment.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * A float32 scalar array for arithmetic on a tensor that gradients flow through. DJL's
 * {@code mul(Number)} and its kin wrap a Java buffer in place and close it straight after the op,
 * but autograd keeps the scalar for backward (∂(x·s)/∂x = s) and would then read freed memory; a
 * double would also promote the result to float64. This one is allocated by libtorch, so autograd
 * holds it by reference count and closing the Java handle (a layer's scope does) frees nothing it needs.
 */
public final class Scalar {

    private Scalar() {}

    public static NDArray of(NDArray like, double value) {
        return like.getManager().full(new Shape(), (float) value, DataType.FLOAT32);
    }
}
