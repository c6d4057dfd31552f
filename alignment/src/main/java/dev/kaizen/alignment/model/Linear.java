package dev.kaizen.alignment.model;

import ai.djl.ndarray.NDArray;

/** A projection y = x·Wᵀ + b, with W [out, in] as Hugging Face stores it. */
public final class Linear {

    private final NDArray weight;
    private final NDArray bias;

    Linear(NDArray weight, NDArray bias) {
        this.weight = weight;
        this.bias = bias;
    }

    public NDArray forward(NDArray x) {
        return ai.djl.nn.core.Linear.linear(x, weight, bias).singletonOrThrow();
    }
}
