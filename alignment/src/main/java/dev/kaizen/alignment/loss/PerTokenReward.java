package dev.kaizen.alignment.loss;

/**
 * PPO's reward for one sampled response, token by token: r_t = −λ·KL_t, with the reward model's
 * score r_θ added at the last token (Ziegler et al. 2019; TRL's PPOTrainer). KL_t estimates the
 * policy's divergence from the reference at token t from the two log-probs of the sampled token.
 */
public final class PerTokenReward {

    public enum KlEstimator {
        /** k1 = log π − log πref: unbiased, may be negative per token. */
        K1,
        /** k3 = (r − 1) − log r with r = πref/π: unbiased and never negative (Schulman, "Approximating KL"). */
        K3
    }

    /** Per-token rewards and the KL estimates they were charged for. */
    public record Rewards(float[] rewards, float[] kl) {}

    private PerTokenReward() {}

    public static Rewards of(float[] logprobs, float[] refLogprobs, double score, double klCoef, KlEstimator estimator) {
        int n = logprobs.length;
        if (n == 0 || refLogprobs.length != n) {
            throw new IllegalArgumentException("a response needs its tokens' log-probs under both models, " + n + " vs " + refLogprobs.length);
        }
        float[] kl = new float[n];
        float[] rewards = new float[n];
        for (int t = 0; t < n; t++) {
            double logRatio = refLogprobs[t] - logprobs[t];
            kl[t] = (float) (estimator == KlEstimator.K1 ? -logRatio : Math.expm1(logRatio) - logRatio);
            rewards[t] = (float) (-klCoef * kl[t]);
        }
        rewards[n - 1] += (float) score;
        return new Rewards(rewards, kl);
    }
}
