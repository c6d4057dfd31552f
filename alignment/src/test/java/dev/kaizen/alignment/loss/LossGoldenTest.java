package dev.kaizen.alignment.loss;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Golden values computed by hand from the published formulas (DPO, IPO, cDPO/rDPO, hinge,
 * Bradley–Terry with TRL's margin and centring, KTO with TRL's reference point, APO-zero).
 */
class LossGoldenTest {

    private final NDManager m = NDManager.newBaseManager();

    @AfterEach
    void close() {
        m.close();
    }

    private NDArray a(double... v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return m.create(f);
    }

    private static double value(LossOutput out) {
        return out.loss().getFloat();
    }

    // Δ = [2.0, 1.5] for these log-prob sums.
    private LossOutput dpo(DpoLoss.Type type, double eps) {
        return DpoLoss.compute(a(-10, -20), a(-12, -18), a(-11, -21), a(-11, -17.5), type, 0.1, eps);
    }

    @Test
    void dpoLossesMatchTheirFormulas() {
        assertThat(value(dpo(DpoLoss.Type.SIGMOID, 0))).isCloseTo(0.6095479586, within(1e-6));
        assertThat(value(dpo(DpoLoss.Type.SIGMOID, 0.2))).isCloseTo(0.6445479586, within(1e-6));
        assertThat(value(dpo(DpoLoss.Type.ROBUST, 0.2))).isCloseTo(0.5512146253, within(1e-6));
        assertThat(value(dpo(DpoLoss.Type.IPO, 0))).isCloseTo(10.625, within(1e-5));
        assertThat(value(dpo(DpoLoss.Type.HINGE, 0))).isCloseTo(0.825, within(1e-6));
        LossOutput out = dpo(DpoLoss.Type.SIGMOID, 0);
        assertThat(out.metrics().get("rewards/chosen")).isCloseTo(0.1, within(1e-6));
        assertThat(out.metrics().get("rewards/rejected")).isCloseTo(-0.075, within(1e-6));
        assertThat(out.metrics().get("rewards/margins")).isCloseTo(0.175, within(1e-6));
        assertThat(out.metrics().get("rewards/accuracies")).isEqualTo(1.0);
        assertThat(out.metrics().get("logps/chosen")).isCloseTo(-15.0, within(1e-6));
    }

    /** RPO: the chosen answers' 30 nats over 20 tokens, 1.5 per token, times α 0.5 on top of DPO's loss. */
    @Test
    void rpoAddsAlphaTimesTheChosenAnswersMeanTokenNll() {
        LossOutput out = DpoLoss.withChosenNll(dpo(DpoLoss.Type.SIGMOID, 0), a(-10, -20), a(4, 16), 0.5);
        assertThat(value(out)).isCloseTo(0.6095479586 + 0.75, within(1e-6));
        assertThat(out.metrics().get("loss")).isCloseTo(0.6095479586 + 0.75, within(1e-6));
        assertThat(out.metrics().get("nll_loss")).isCloseTo(1.5, within(1e-6));
        assertThat(out.metrics().get("rewards/margins")).isCloseTo(0.175, within(1e-6));
    }

    @Test
    void dpoStaysFiniteForHugeMargins() {
        LossOutput good = DpoLoss.compute(a(0), a(-1e6), a(0), a(0), DpoLoss.Type.SIGMOID, 0.1, 0);
        LossOutput bad = DpoLoss.compute(a(-1e6), a(0), a(0), a(0), DpoLoss.Type.SIGMOID, 0.1, 0);
        assertThat(value(good)).isCloseTo(0.0, within(1e-6));
        assertThat(value(bad)).isCloseTo(1e5, within(1.0));
        assertThat(Double.isFinite(value(bad))).isTrue();
    }

    @Test
    void bradleyTerryWithMarginAndCentring() {
        NDArray chosen = a(2, -1, 0.5);
        NDArray rejected = a(1, 0.5, -0.5);
        assertThat(value(RewardLoss.compute(chosen, rejected, null, 0))).isCloseTo(0.7759788843, within(1e-6));
        assertThat(value(RewardLoss.compute(chosen, rejected, a(0.5, 0, 1), 0))).isCloseTo(0.9562124809, within(1e-6));
        LossOutput centred = RewardLoss.compute(chosen, rejected, a(0.5, 0, 1), 0.01);
        assertThat(value(centred)).isCloseTo(0.9870458142, within(1e-6));
        assertThat(centred.metrics().get("accuracy")).isCloseTo(2.0 / 3, within(1e-6));
    }

    // ratio = [1, -0.5, 0.5, -1]; mismatched-pair log ratios average 0.325 = z0.
    private LossOutput kto(KtoLoss.Config c, double... desirable) {
        return KtoLoss.compute(a(-10, -12, -9, -15), a(-11, -11.5, -9.5, -14), a(-13, -11, -12, -10),
                a(-13.5, -11.2, -12, -10.6), a(desirable), c);
    }

    @Test
    void ktoUsesTheMismatchedPairsAsItsReferencePoint() {
        LossOutput out = kto(KtoLoss.Config.defaults(), 1, 0, 1, 0);
        assertThat(value(out)).isCloseTo(0.4812666460, within(1e-6));
        assertThat(out.metrics().get("kl")).isCloseTo(0.325, within(1e-6));
        assertThat(out.metrics().get("rewards/chosen")).isCloseTo(0.075, within(1e-6));
        assertThat(out.metrics().get("rewards/rejected")).isCloseTo(-0.075, within(1e-6));
        assertThat(out.metrics().get("rewards/margins")).isCloseTo(0.15, within(1e-6));
        assertThat(out.metrics().get("logps/chosen")).isCloseTo(-9.5, within(1e-6));
        assertThat(out.metrics().get("logps/rejected")).isCloseTo(-13.5, within(1e-6));
    }

    @Test
    void ktoWeightsAndOneSidedBatches() {
        assertThat(value(kto(new KtoLoss.Config(KtoLoss.Type.KTO, 0.1, 1.5, 0.5), 1, 0, 1, 0))).isCloseTo(0.4853224520, within(1e-6));
        LossOutput allDesirable = kto(KtoLoss.Config.defaults(), 1, 1, 1, 1);
        assertThat(value(allDesirable)).isCloseTo(0.5081116120, within(1e-6));
        assertThat(allDesirable.metrics()).doesNotContainKeys("rewards/rejected", "rewards/margins");
        LossOutput allUndesirable = kto(KtoLoss.Config.defaults(), 0, 0, 0, 0);
        assertThat(value(allUndesirable)).isCloseTo(0.4918883880, within(1e-6));
        assertThat(allUndesirable.metrics()).doesNotContainKeys("rewards/chosen");
    }

    @Test
    void aNegativeReferencePointIsClampedToZero() {
        LossOutput out = KtoLoss.compute(a(-10, -12, -9, -15), a(-11, -11.5, -9.5, -14), a(-13, -11, -12, -10),
                a(-12, -10, -11, -9), a(1, 0, 1, 0), KtoLoss.Config.defaults());
        assertThat(out.metrics().get("kl")).isEqualTo(0.0);
        assertThat(value(out)).isCloseTo(0.4812617080, within(1e-6));
    }

    @Test
    void apoZeroUnpairedIgnoresTheReferencePoint() {
        LossOutput out = kto(new KtoLoss.Config(KtoLoss.Type.APO_ZERO_UNPAIRED, 0.1, 1, 1), 1, 0, 1, 0);
        assertThat(value(out)).isCloseTo(0.4812617080, within(1e-6));
    }

    @Test
    void aBatchOfOneIsRefusedWithTheReason() {
        assertThatThrownBy(() -> KtoLoss.compute(a(-1), a(-1), a(-1), a(-1), a(1), KtoLoss.Config.defaults()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("z0 would equal its reward");
    }

    /** Two samples are the fewest KTO takes: r = (0.5, -0.5), z0 = mean(0.5, 0.2) = 0.35, β = 0.1. */
    @Test
    void aBatchOfTwoIsTheSmallest() {
        LossOutput out = KtoLoss.compute(a(-2, -3), a(-2.5, -2.5), a(-4, -3), a(-4.5, -3.2), a(1, 0), KtoLoss.Config.defaults());
        // ((1 - σ(0.1·(0.5 - 0.35))) + (1 - σ(0.1·(0.35 + 0.5)))) / 2
        assertThat(out.metrics().get("loss")).isCloseTo(0.487506427672322, within(1e-6));
    }

    @Test
    void theWeightRuleLandsTheRatioInItsRange() {
        for (long[] counts : new long[][] {{10, 90}, {90, 10}, {50, 50}, {55, 45}, {1, 1000}, {1000, 1}, {7, 3}}) {
            KtoLoss.Config c = KtoLoss.weighted(KtoLoss.Config.defaults(), counts[0], counts[1]);
            double ratio = c.desirableWeight() * counts[0] / (c.undesirableWeight() * counts[1]);
            assertThat(ratio).as("counts %d/%d", counts[0], counts[1]).isBetween(1.0 - 1e-12, 4.0 / 3 + 1e-12);
        }
        KtoLoss.Config tenPercent = KtoLoss.weighted(KtoLoss.Config.defaults(), 10, 90);
        assertThat(tenPercent.desirableWeight()).isCloseTo(9.0, within(1e-12));
        assertThat(tenPercent.undesirableWeight()).isEqualTo(1.0);
        assertThat(KtoLoss.weighted(KtoLoss.Config.defaults(), 55, 45).desirableWeight()).isEqualTo(1.0);
        // A batch of one label only has nothing to balance.
        assertThat(KtoLoss.weighted(KtoLoss.Config.defaults(), 0, 5)).isEqualTo(KtoLoss.Config.defaults());
        assertThat(KtoLoss.weighted(KtoLoss.Config.defaults(), 5, 0)).isEqualTo(KtoLoss.Config.defaults());
    }

    @Test
    void sftAveragesOverCompletionTokensOnly() {
        // Completions of 2 and 1 tokens: the mean over tokens is (2 + 3 + 0.5) / 3, where a mean of
        // the sequences' means would give (2.5 + 0.5) / 2 = 1.5.
        NDArray logps = m.create(new float[][] {{-1, -2, -3}, {-0.5f, -4, -1}});
        NDArray mask = m.create(new float[][] {{0, 1, 1}, {1, 0, 0}});
        LossOutput out = SftLoss.compute(logps, mask);
        assertThat(value(out)).isCloseTo(5.5 / 3, within(1e-6));
        assertThat(out.metrics().get("num_tokens")).isEqualTo(3.0);
    }

    @Test
    void theMismatchedPartnerIsThePreviousSample() {
        assertThat(KtoLoss.mismatchedPartner(0, 4)).isEqualTo(3);
        assertThat(KtoLoss.mismatchedPartner(3, 4)).isEqualTo(2);
    }

    // KL(softmax[1,2,3] ‖ uniform) = 0.266216707 but KL(uniform ‖ softmax[1,2,3]) = 0.308993676, so the
    // direction shows (mirror-image distributions would give one value both ways); equal logits give 0.
    @Test
    void tokenKlIsTheExactDivergenceOfThePolicyFromTheReferenceAveragedOverMaskedPositions() {
        NDArray policy = m.create(new float[] {1, 2, 3, 0, 0, 0, 5, 1, 0, 1, 2, 3}, new ai.djl.ndarray.types.Shape(2, 2, 3));
        NDArray reference = m.create(new float[] {0, 0, 0, 0, 0, 0, 5, 1, 0, 0, 0, 0}, new ai.djl.ndarray.types.Shape(2, 2, 3));
        NDArray mask = m.create(new float[] {1, 1, 1, 0}, new ai.djl.ndarray.types.Shape(2, 2));
        assertThat((double) TokenKl.mean(policy, reference, mask).getFloat()).isCloseTo(0.266216707 / 3, within(1e-6));
        assertThat((double) TokenKl.mean(reference, policy, mask).getFloat()).isCloseTo(0.308993676 / 3, within(1e-6));
        NDArray all = m.create(new float[] {1, 1, 1, 1}, new ai.djl.ndarray.types.Shape(2, 2));
        assertThat((double) TokenKl.mean(policy, reference, all).getFloat()).isCloseTo(2 * 0.266216707 / 4, within(1e-6));
        assertThat((double) TokenKl.mean(reference, reference, all).getFloat()).isCloseTo(0.0, within(1e-7));
    }
}
