package dev.kaizen.alignment.loss;

import java.util.Map;

import ai.djl.ndarray.NDArray;

/** Supervised fine-tuning: negative log-likelihood of the completion tokens only, mean over those tokens. */
public final class SftLoss {

    private SftLoss() {}

    /** tokenLogps [B, T−1] from TokenLogProbs; mask [B, T−1] is 1 on completion tokens. */
    public static LossOutput compute(NDArray tokenLogps, NDArray mask) {
        NDArray tokens = mask.sum();
        NDArray loss = tokenLogps.mul(mask).sum().neg().div(tokens.maximum(1));
        Map<String, Double> metrics = LossOutput.metrics(loss);
        metrics.put("num_tokens", LossOutput.scalar(tokens));
        return new LossOutput(loss, metrics);
    }
}
