package dev.kaizen.alignment.loss;

import ai.djl.ndarray.NDArray;

/**
 * The exact KL divergence of the policy from the reference along given sequences: at each masked
 * position, KL(π‖πref) = Σ_v π(v)·(log π(v) − log πref(v)) over the whole vocabulary, averaged
 * over the masked positions. Nats per token, so a budget does not depend on answer length.
 */
public final class TokenKl {

    private TokenKl() {}

    /** logits [..., V] of both models at the same positions; mask [...] selects the positions that count. */
    public static NDArray mean(NDArray policyLogits, NDArray referenceLogits, NDArray mask) {
        NDArray logP = policyLogits.logSoftmax(-1);
        NDArray logQ = referenceLogits.logSoftmax(-1);
        NDArray perToken = logP.exp().mul(logP.sub(logQ)).sum(new int[] {-1});
        return perToken.mul(mask).sum().div(mask.sum());
    }
}
