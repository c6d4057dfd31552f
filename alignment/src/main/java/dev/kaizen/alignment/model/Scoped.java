package dev.kaizen.alignment.model;

import java.util.function.Supplier;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;

/**
 * A computation in an {@link NDScope} of its own: every array it makes is closed when it returns,
 * except its result, which joins the caller's scope. DJL otherwise keeps each intermediate until the
 * caller's scope ends. While training, autograd holds what backward reads by reference count, so
 * closing the handles frees only what nothing needs (see {@link Scalar} for the one exception).
 */
public final class Scoped {

    private Scoped() {}

    public static NDArray only(Supplier<NDArray> computation) {
        NDArray result;
        try (NDScope scope = new NDScope()) {
            result = computation.get();
            NDScope.unregister(result);
        }
        NDScope.register(result);
        return result;
    }
}
