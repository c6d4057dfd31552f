package dev.kaizen.alignment.loss;

import java.util.Map;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Activation;

import dev.kaizen.alignment.model.Scalar;

/**
 * Direct preference optimisation over per-sequence log-prob sums, with Δ = (log πθ(y⁺) − log πref(y⁺))
 * − (log πθ(y⁻) − log πref(y⁻)). The caller passes per-token averages instead of sums for IPO.
 */
public final class DpoLoss {

    public enum Type {
        /** −log σ(βΔ), with label smoothing ε: −(1−ε)·log σ(βΔ) − ε·log σ(−βΔ) (conservative DPO). */
        SIGMOID,
        /** Robust DPO: (−(1−ε)·log σ(βΔ) + ε·log σ(−βΔ)) / (1 − 2ε). */
        ROBUST,
        /** IPO: (Δ − 1/(2β))², on per-token averaged log ratios. */
        IPO,
        /** max(0, 1 − βΔ). */
        HINGE
    }

    private DpoLoss() {}

    public static LossOutput compute(NDArray policyChosen, NDArray policyRejected, NDArray refChosen, NDArray refRejected,
                                     Type type, double beta, double labelSmoothing) {
        NDArray chosenRatio = policyChosen.sub(refChosen);
        NDArray rejectedRatio = policyRejected.sub(refRejected);
        NDArray delta = chosenRatio.sub(rejectedRatio);
        NDArray losses = switch (type) {
            case SIGMOID -> LossOutput.negLogSigmoid(delta.mul(Scalar.of(delta, beta))).mul(Scalar.of(delta, 1 - labelSmoothing))
                    .add(LossOutput.negLogSigmoid(delta.mul(Scalar.of(delta, -beta))).mul(Scalar.of(delta, labelSmoothing)));
            case ROBUST -> LossOutput.negLogSigmoid(delta.mul(Scalar.of(delta, beta))).mul(Scalar.of(delta, 1 - labelSmoothing))
                    .sub(LossOutput.negLogSigmoid(delta.mul(Scalar.of(delta, -beta))).mul(Scalar.of(delta, labelSmoothing)))
                    .div(Scalar.of(delta, 1 - 2 * labelSmoothing));
            case IPO -> delta.sub(Scalar.of(delta, 1 / (2 * beta))).square();
            case HINGE -> Activation.relu(delta.mul(Scalar.of(delta, -beta)).add(Scalar.of(delta, 1)));
        };
        NDArray loss = losses.mean();
        NDArray chosenRewards = chosenRatio.mul(Scalar.of(delta, beta)).stopGradient();
        NDArray rejectedRewards = rejectedRatio.mul(Scalar.of(delta, beta)).stopGradient();
        Map<String, Double> metrics = LossOutput.metrics(loss);
        metrics.put("rewards/chosen", LossOutput.scalar(chosenRewards.mean()));
        metrics.put("rewards/rejected", LossOutput.scalar(rejectedRewards.mean()));
        metrics.put("rewards/accuracies", LossOutput.scalar(chosenRewards.gt(rejectedRewards).toType(DataType.FLOAT32, false).mean()));
        metrics.put("rewards/margins", LossOutput.scalar(chosenRewards.sub(rejectedRewards).mean()));
        metrics.put("logps/chosen", LossOutput.scalar(policyChosen.mean()));
        metrics.put("logps/rejected", LossOutput.scalar(policyRejected.mean()));
        return new LossOutput(loss, metrics);
    }

    /**
     * RPO (TRL's {@code rpo_alpha}, Pang et al. 2024): adds α times the policy's mean per-token
     * negative log-likelihood of the chosen answers, so raising the margin cannot come from
     * pushing the chosen answers down with the rejected ones. Sums and token counts are per chosen answer.
     */
    public static LossOutput withChosenNll(LossOutput dpo, NDArray policyChosenSums, NDArray chosenTokens, double alpha) {
        NDArray nll = policyChosenSums.sum().neg().div(chosenTokens.sum());
        NDArray loss = dpo.loss().add(nll.mul(Scalar.of(nll, alpha)));
        Map<String, Double> metrics = LossOutput.metrics(loss);
        dpo.metrics().forEach(metrics::putIfAbsent);
        metrics.put("nll_loss", LossOutput.scalar(nll));
        return new LossOutput(loss, metrics);
    }
}
