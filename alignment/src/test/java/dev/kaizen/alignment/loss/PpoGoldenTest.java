package dev.kaizen.alignment.loss;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import ai.djl.engine.Engine;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import dev.kaizen.alignment.train.KlController;

/**
 * Golden values computed by hand from the published formulas: PPO's per-token reward with the k1
 * and k3 KL estimators (Ziegler et al.; Schulman's "Approximating KL"), GAE (Schulman et al. 2016),
 * TRL's batch whitening, the clipped surrogate and clipped value loss, and the adaptive KL controller.
 */
class PpoGoldenTest {

    private static final Offset<Float> F = within(1e-6f);
    private final NDManager m = NDManager.newBaseManager();

    @AfterEach
    void close() {
        m.close();
    }

    @Test
    void theRewardIsMinusLambdaKlPerTokenWithTheScoreOnTheLastToken() {
        float[] logprobs = {-1.0f, -2.0f, -0.5f};
        float[] ref = {-1.5f, -1.0f, -0.5f};
        PerTokenReward.Rewards k1 = PerTokenReward.of(logprobs, ref, 2.0, 0.1, PerTokenReward.KlEstimator.K1);
        assertThat(k1.kl()).containsExactly(new float[] {0.5f, -1.0f, 0.0f}, F);
        assertThat(k1.rewards()).containsExactly(new float[] {-0.05f, 0.1f, 2.0f}, F);
        // k3 = (e^x − 1) − x with x = log πref − log π: never negative, and 0 where the models agree.
        PerTokenReward.Rewards k3 = PerTokenReward.of(logprobs, ref, 2.0, 0.1, PerTokenReward.KlEstimator.K3);
        assertThat(k3.kl()).containsExactly(new float[] {0.10653066f, 0.71828183f, 0.0f}, F);
        assertThat(k3.rewards()).containsExactly(new float[] {-0.010653066f, -0.071828183f, 2.0f}, F);
        assertThatThrownBy(() -> PerTokenReward.of(new float[0], new float[0], 1, 0.1, PerTokenReward.KlEstimator.K1))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void gaeRunsBackwardsFromTheLastToken() {
        Gae.Estimate tRL = Gae.of(new float[] {0, 0, 1}, new float[] {0.5f, 0.6f, 0.7f}, 1.0, 0.95);
        assertThat(tRL.advantages()).containsExactly(new float[] {0.46575f, 0.385f, 0.3f}, F);
        assertThat(tRL.returns()).containsExactly(new float[] {0.96575f, 0.985f, 1.0f}, F);
        Gae.Estimate discounted = Gae.of(new float[] {0.1f, -0.2f, 1.5f}, new float[] {0.3f, 0.2f, 0.4f}, 0.9, 0.8);
        assertThat(discounted.advantages()).containsExactly(new float[] {0.52144f, 0.752f, 1.1f}, F);
        assertThat(discounted.returns()).containsExactly(new float[] {0.82144f, 0.952f, 1.5f}, F);
    }

    @Test
    void whiteningUsesEveryTokenOfTheBatchAndTheUnbiasedVariance() {
        // mean 5, sample standard deviation √21 (statistics.stdev): (x - 5) / √21
        float[][] w = Gae.whiten(new float[][] {{1, 4}, {10}});
        assertThat(w[0]).containsExactly(new float[] {-0.872872f, -0.218218f}, within(1e-5f));
        assertThat(w[1]).containsExactly(new float[] {1.091089f}, within(1e-5f));
        // Two values are the fewest with a variance.
        assertThat(Gae.whiten(new float[][] {{1}, {3}})).isDeepEqualTo(new float[][] {{-0.70710677f}, {0.70710677f}});
        assertThatThrownBy(() -> Gae.whiten(new float[][] {{1}})).hasMessageContaining("at least 2 values");
    }

    @Test
    void theSurrogateAndTheValueLossAreClippedAndOnlyResponseTokensCount() {
        // The third position is masked out; its wild values must not count.
        NDArray logprobs = m.create(new float[][] {{-1.0f, -0.5f, -3.0f}});
        NDArray values = m.create(new float[][] {{0.5f, 1.0f, 9.0f}});
        logprobs.setRequiresGradient(true);
        values.setRequiresGradient(true);
        LossOutput out;
        try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            out = PpoLoss.compute(logprobs, m.create(new float[][] {{-1.2f, -0.4f, -1.0f}}), m.create(new float[][] {{1.0f, -2.0f, 5.0f}}),
                    values, m.create(new float[][] {{0.2f, 1.1f, 0.0f}}), m.create(new float[][] {{1.0f, 0.0f, 0.0f}}),
                    m.create(new float[][] {{1, 1, 0}}), new PpoLoss.Clip(0.2, 0.2, 0.1));
            collector.backward(out.loss());
        }
        assertThat(out.metrics().get("loss/policy_avg")).isCloseTo(0.304837418, within(1e-6));
        assertThat(out.metrics().get("loss/value_avg")).isCloseTo(0.34, within(1e-6));
        assertThat(out.metrics().get("loss")).isCloseTo(0.338837418, within(1e-6));
        assertThat(out.metrics().get("policy/clipfrac_avg")).isEqualTo(0.5);
        assertThat(out.metrics().get("val/clipfrac_avg")).isEqualTo(0.5);
        assertThat(out.metrics().get("policy/approxkl_avg")).isCloseTo(0.0125, within(1e-6));
        assertThat(out.metrics().get("val/ratio")).isCloseTo(1.063120088, within(1e-6));
        // Clipped terms pass no gradient: token 0's ratio 1.22 is past 1+ε with a positive advantage.
        assertThat(logprobs.getGradient().toFloatArray()).containsExactly(new float[] {0, 0.904837f, 0}, within(1e-5f));
        // Token 0's value is clipped (the clipped loss is larger): no gradient; token 1: 0.1·½·2·(1 − 0)/2.
        assertThat(values.getGradient().toFloatArray()).containsExactly(new float[] {0, 0.05f, 0}, within(1e-6f));
    }

    @Test
    void theAdaptiveControllerMovesLambdaTowardTheTargetAtMostTwentyPercentPerHorizon() {
        KlController adaptive = KlController.adaptive(0.05, 6, 10_000);
        adaptive.update(9, 16);  // error clipped to +0.2
        assertThat(adaptive.value()).isCloseTo(0.05 * (1 + 0.2 * 16 / 10_000.0), within(1e-12));
        adaptive.update(5.4, 100);  // error −0.1
        assertThat(adaptive.value()).isCloseTo(0.05 * (1 + 0.2 * 16 / 10_000.0) * (1 - 0.1 * 100 / 10_000.0), within(1e-12));
        KlController fixed = KlController.fixed(0.05);
        fixed.update(100, 1000);
        assertThat(fixed.value()).isEqualTo(0.05);
    }
}
