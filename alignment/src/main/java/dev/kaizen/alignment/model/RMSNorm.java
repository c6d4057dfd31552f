package dev.kaizen.alignment.model;

import ai.djl.ndarray.NDArray;

/** x / sqrt(mean(x²) + ε) · w, over the hidden dimension. */
final class RMSNorm {

    private final NDArray weight;
    private final float eps;

    RMSNorm(NDArray weight, double eps) {
        this.weight = weight;
        this.eps = (float) eps;
    }

    NDArray forward(NDArray x) {
        NDArray variance = x.square().mean(new int[] {-1}, true);
        return x.div(variance.add(Scalar.of(x, eps)).sqrt()).mul(weight);
    }
}
