package dev.kaizen.alignment.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

import dev.kaizen.alignment.model.Scalar;

/**
 * PPO's clipped objectives over the response tokens of a minibatch (mask [B, T] selects them):
 * the surrogate max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε)) with ρ = exp(log π − log π_old), and the value
 * loss ½·max((V − R)², (clip(V, V_old − ε_v, V_old + ε_v) − R)²), combined as
 * loss = policy + vf_coef·value. Means are over response tokens; metrics under TRL's names.
 */
public final class PpoLoss {

    public record Clip(double cliprange, double cliprangeValue, double vfCoef) {}

    private PpoLoss() {}

    public static LossOutput compute(NDArray logprobs, NDArray oldLogprobs, NDArray advantages, NDArray values, NDArray oldValues,
                                     NDArray returns, NDArray mask, Clip clip) {
        NDArray logRatio = logprobs.sub(oldLogprobs);
        NDArray ratio = logRatio.exp();
        NDArray pgLosses = advantages.neg().mul(ratio);
        NDArray pgLossesClipped = advantages.neg().mul(ratio.clip(1 - clip.cliprange(), 1 + clip.cliprange()));
        NDArray policyLoss = masked(pgLosses.maximum(pgLossesClipped), mask);

        NDArray valuesClipped = oldValues.add(values.sub(oldValues).clip(-clip.cliprangeValue(), clip.cliprangeValue()));
        NDArray vfLosses = values.sub(returns).square();
        NDArray vfLossesClipped = valuesClipped.sub(returns).square();
        NDArray valueLoss = masked(vfLosses.maximum(vfLossesClipped), mask).mul(Scalar.of(mask, 0.5));

        NDArray loss = policyLoss.add(valueLoss.mul(Scalar.of(mask, clip.vfCoef())));
        var metrics = LossOutput.metrics(loss);
        metrics.put("loss/policy_avg", LossOutput.scalar(policyLoss));
        metrics.put("loss/value_avg", LossOutput.scalar(valueLoss));
        metrics.put("policy/clipfrac_avg", LossOutput.scalar(masked(pgLossesClipped.gt(pgLosses).toType(DataType.FLOAT32, false), mask)));
        metrics.put("val/clipfrac_avg", LossOutput.scalar(masked(vfLossesClipped.gt(vfLosses).toType(DataType.FLOAT32, false), mask)));
        metrics.put("policy/approxkl_avg", LossOutput.scalar(masked(logRatio.square(), mask).mul(Scalar.of(mask, 0.5))));
        metrics.put("val/ratio", LossOutput.scalar(masked(ratio, mask)));
        return new LossOutput(loss, metrics);
    }

    private static NDArray masked(NDArray x, NDArray mask) {
        return x.mul(mask).sum().div(mask.sum());
    }
}
