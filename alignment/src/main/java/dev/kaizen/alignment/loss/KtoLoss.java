package dev.kaizen.alignment.loss;

import java.util.Map;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;

import dev.kaizen.alignment.model.Scalar;

/**
 * Kahneman–Tversky optimisation with TRL's semantics. r = log πθ(y|x) − log πref(y|x) summed over
 * the completion; the reference point z0 = max(0, mean over the batch of the same log ratio on
 * mismatched pairs (x_i, y_{i−1})), held constant; desirable samples lose λD·(1 − σ(β(r − z0))),
 * undesirable ones λU·(1 − σ(β(z0 − r))); the loss is the mean over the batch.
 */
public final class KtoLoss {

    public enum Type {
        KTO,
        /** TRL's apo_zero_unpaired: desirable 1 − σ(βr), undesirable σ(βr); no reference point. */
        APO_ZERO_UNPAIRED
    }

    /** β, λD, λU, as TRL's beta, desirable_weight and undesirable_weight. */
    public record Config(Type type, double beta, double desirableWeight, double undesirableWeight) {
        public static Config defaults() {
            return new Config(Type.KTO, 0.1, 1.0, 1.0);
        }
    }

    private KtoLoss() {}

    /** For sample i, the index of the completion it is paired with to estimate z0: the one before it. */
    public static int mismatchedPartner(int i, int batchSize) {
        return (i - 1 + batchSize) % batchSize;
    }

    /**
     * All arrays [B]: policy and reference log-prob sums of each sample's completion, of its
     * mismatched pair, and desirable (1) or undesirable (0).
     */
    public static LossOutput compute(NDArray policyLogps, NDArray refLogps, NDArray policyKlLogps, NDArray refKlLogps,
                                     NDArray desirable, Config c) {
        long n = policyLogps.getShape().get(0);
        if (n < 2) {
            throw new IllegalArgumentException("KTO needs at least 2 samples in a batch: its reference point comes from "
                    + "mismatched pairs, and with one sample the pair is the sample itself, so z0 would equal its reward");
        }
        NDArray ratio = policyLogps.sub(refLogps);
        NDArray kl = policyKlLogps.sub(refKlLogps).mean().maximum(0).stopGradient();
        NDArray undesirable = desirable.neg().add(1);
        NDArray beta = Scalar.of(ratio, c.beta());
        NDArray one = Scalar.of(ratio, 1);
        NDArray desirableLoss = switch (c.type()) {
            case KTO -> one.sub(Activation.sigmoid(ratio.sub(kl).mul(beta)));
            case APO_ZERO_UNPAIRED -> one.sub(Activation.sigmoid(ratio.mul(beta)));
        };
        NDArray undesirableLoss = switch (c.type()) {
            case KTO -> one.sub(Activation.sigmoid(kl.sub(ratio).mul(beta)));
            case APO_ZERO_UNPAIRED -> Activation.sigmoid(ratio.mul(beta));
        };
        NDArray losses = desirableLoss.mul(desirable).mul(Scalar.of(ratio, c.desirableWeight()))
                .add(undesirableLoss.mul(undesirable).mul(Scalar.of(ratio, c.undesirableWeight())));
        NDArray loss = losses.mean();
        Map<String, Double> metrics = LossOutput.metrics(loss);
        metrics.put("kl", LossOutput.scalar(kl));
        NDArray rewards = ratio.mul(beta).stopGradient();
        double nChosen = LossOutput.scalar(desirable.sum());
        double nRejected = n - nChosen;
        if (nChosen > 0) {
            metrics.put("rewards/chosen", LossOutput.scalar(rewards.mul(desirable).sum()) / nChosen);
            metrics.put("logps/chosen", LossOutput.scalar(policyLogps.mul(desirable).sum()) / nChosen);
        }
        if (nRejected > 0) {
            metrics.put("rewards/rejected", LossOutput.scalar(rewards.mul(undesirable).sum()) / nRejected);
            metrics.put("logps/rejected", LossOutput.scalar(policyLogps.mul(undesirable).sum()) / nRejected);
        }
        if (nChosen > 0 && nRejected > 0) {
            metrics.put("rewards/margins", metrics.get("rewards/chosen") - metrics.get("rewards/rejected"));
        }
        return new LossOutput(loss, metrics);
    }

    /**
     * λD and λU so that λD·nD / (λU·nU) lies in [1, 4/3], the KTO paper's rule: left at 1 when the
     * counts already satisfy it, else the rarer side's weight is raised to the nearest end of the range.
     */
    public static Config weighted(Config c, long nDesirable, long nUndesirable) {
        if (nDesirable == 0 || nUndesirable == 0) {
            return new Config(c.type(), c.beta(), 1, 1);
        }
        double ratio = (double) nDesirable / nUndesirable;
        if (ratio < 1) {
            return new Config(c.type(), c.beta(), 1 / ratio, 1);
        }
        if (ratio > 4.0 / 3) {
            return new Config(c.type(), c.beta(), 1, ratio * 3 / 4);
        }
        return new Config(c.type(), c.beta(), 1, 1);
    }
}
