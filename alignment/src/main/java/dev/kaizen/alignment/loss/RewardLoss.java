package dev.kaizen.alignment.loss;

import java.util.Map;

import ai.djl.ndarray.NDArray;

import dev.kaizen.alignment.model.Scalar;

/** Bradley–Terry reward modelling, as TRL's RewardTrainer: −log σ(r⁺ − r⁻ − m) + c·mean((r⁺ + r⁻)²). */
public final class RewardLoss {

    private RewardLoss() {}

    /** rewards [B] of the chosen and rejected answers; margin [B] or null; c is center_rewards_coefficient (0 = off). */
    public static LossOutput compute(NDArray chosen, NDArray rejected, NDArray margin, double centerCoefficient) {
        NDArray diff = chosen.sub(rejected);
        NDArray loss = LossOutput.negLogSigmoid(margin == null ? diff : diff.sub(margin)).mean();
        if (centerCoefficient != 0) {
            loss = loss.add(chosen.add(rejected).square().mean().mul(Scalar.of(chosen, centerCoefficient)));
        }
        Map<String, Double> metrics = LossOutput.metrics(loss);
        metrics.put("accuracy", LossOutput.scalar(diff.gt(0).toType(ai.djl.ndarray.types.DataType.FLOAT32, false).mean()));
        metrics.put("rewards/chosen", LossOutput.scalar(chosen.mean()));
        metrics.put("rewards/rejected", LossOutput.scalar(rejected.mean()));
        metrics.put("rewards/margins", LossOutput.scalar(diff.mean()));
        return new LossOutput(loss, metrics);
    }
}
