package dev.kaizen.alignment.train;

/**
 * λ, the coefficient of PPO's KL penalty: fixed, or adapted toward a target KL per response
 * (Ziegler et al. 2019, TRL's AdaptiveKLController): after a batch of n responses with mean KL k,
 * λ ← λ·(1 + clip(k/target − 1, −0.2, 0.2)·n/horizon).
 */
public final class KlController {

    private final Double target;
    private final double horizon;
    private double value;

    private KlController(double value, Double target, double horizon) {
        if (!(value >= 0) || target != null && !(target > 0) || !(horizon > 0)) {
            throw new IllegalArgumentException("the KL coefficient must be >= 0, the target KL and horizon > 0; got " + value + ", "
                    + target + ", " + horizon);
        }
        this.value = value;
        this.target = target;
        this.horizon = horizon;
    }

    public static KlController fixed(double coefficient) {
        return new KlController(coefficient, null, 1);
    }

    public static KlController adaptive(double initial, double target, double horizon) {
        return new KlController(initial, target, horizon);
    }

    public double value() {
        return value;
    }

    public void update(double meanKl, int responses) {
        if (target != null) {
            double error = Math.max(-0.2, Math.min(0.2, meanKl / target - 1));
            value *= 1 + error * responses / horizon;
        }
    }
}
