package dev.kaizen.alignment.weights;

import java.util.Arrays;

/** A named tensor's values in F32, its shape, and the element type it is (or will be) stored as. */
public record Tensor(Dtype dtype, long[] shape, float[] values) {

    public Tensor {
        if (numel(shape) != values.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + numel(shape)
                    + " values, not " + values.length);
        }
    }

    public static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }
}
