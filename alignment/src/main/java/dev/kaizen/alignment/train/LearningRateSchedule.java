package dev.kaizen.alignment.train;

/** Linear warmup from 0 to the peak, then constant, linear or cosine decay to 0 at the last step, as transformers' schedulers. */
public record LearningRateSchedule(double peak, int warmupSteps, int totalSteps, Decay decay) {

    public enum Decay { CONSTANT, LINEAR, COSINE }

    public LearningRateSchedule {
        if (!(peak > 0) || warmupSteps < 0 || totalSteps < 1) {
            throw new IllegalArgumentException("learning rate must be positive and steps non-negative; got peak " + peak
                    + ", warmup " + warmupSteps + ", total " + totalSteps);
        }
    }

    /** The learning rate of optimizer step {@code step} (0-based). */
    public double at(int step) {
        if (step < warmupSteps) {
            return peak * step / warmupSteps;
        }
        double progress = totalSteps <= warmupSteps ? 0 : Math.min(1.0, (double) (step - warmupSteps) / (totalSteps - warmupSteps));
        return switch (decay) {
            case CONSTANT -> peak;
            case LINEAR -> peak * (1 - progress);
            case COSINE -> peak * 0.5 * (1 + Math.cos(Math.PI * progress));
        };
    }
}
