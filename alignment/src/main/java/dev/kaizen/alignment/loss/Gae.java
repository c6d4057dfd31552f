package dev.kaizen.alignment.loss;

/**
 * Generalised advantage estimation (Schulman et al. 2016) over one response:
 * δ_t = r_t + γ·V_{t+1} − V_t (V after the last token is 0), A_t = δ_t + γλ·A_{t+1}, and the
 * value targets R_t = A_t + V_t. Plus the whitening PPO applies to a batch's advantages.
 */
public final class Gae {

    public record Estimate(float[] advantages, float[] returns) {}

    private Gae() {}

    public static Estimate of(float[] rewards, float[] values, double gamma, double lambda) {
        int n = rewards.length;
        if (values.length != n) {
            throw new IllegalArgumentException(n + " rewards but " + values.length + " values");
        }
        float[] advantages = new float[n];
        float[] returns = new float[n];
        double next = 0;
        double running = 0;
        for (int t = n - 1; t >= 0; t--) {
            double delta = rewards[t] + gamma * next - values[t];
            running = delta + gamma * lambda * running;
            advantages[t] = (float) running;
            returns[t] = (float) (running + values[t]);
            next = values[t];
        }
        return new Estimate(advantages, returns);
    }

    /**
     * (x − mean) / sqrt(var + 1e-8) over every token of every row together, with the unbiased
     * variance, as TRL's masked_whiten does over a batch; rows keep their lengths.
     */
    public static float[][] whiten(float[][] rows) {
        long n = 0;
        double sum = 0;
        for (float[] row : rows) {
            for (float x : row) {
                sum += x;
                n++;
            }
        }
        if (n < 2) {
            throw new IllegalArgumentException("whitening needs at least 2 values, not " + n);
        }
        double mean = sum / n;
        double squares = 0;
        for (float[] row : rows) {
            for (float x : row) {
                squares += (x - mean) * (x - mean);
            }
        }
        double scale = 1 / Math.sqrt(squares / (n - 1) + 1e-8);
        float[][] out = new float[rows.length][];
        for (int b = 0; b < rows.length; b++) {
            out[b] = new float[rows[b].length];
            for (int t = 0; t < rows[b].length; t++) {
                out[b][t] = (float) ((rows[b][t] - mean) * scale);
            }
        }
        return out;
    }
}
