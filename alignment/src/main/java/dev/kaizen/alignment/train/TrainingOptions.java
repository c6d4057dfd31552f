package dev.kaizen.alignment.train;

import dev.kaizen.alignment.loss.DpoLoss;
import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.alignment.model.LoraAdapter;

/**
 * How to train, under TRL's names where TRL has one. {@code lora} null means full fine-tuning;
 * {@code maxSteps} ≤ 0 means run {@code epochs}; null weights follow the KTO paper's rule; null
 * {@code rpoAlpha} means plain DPO.
 */
public record TrainingOptions(
        Method method,
        int batchSize,
        int gradientAccumulationSteps,
        int maxSteps,
        int epochs,
        double learningRate,
        double warmupRatio,
        LearningRateSchedule.Decay schedule,
        double beta,
        DpoLoss.Type dpoLoss,
        double labelSmoothing,
        Double rpoAlpha,
        KtoLoss.Type ktoLoss,
        Double desirableWeight,
        Double undesirableWeight,
        double centerRewardsCoefficient,
        boolean shuffle,
        long seed,
        int maxLength,
        LoraAdapter.Config lora,
        AdamW.Config adam) {

    public enum Method { SFT, RM, DPO, KTO }

    public TrainingOptions {
        if (batchSize < 1 || gradientAccumulationSteps < 1 || epochs < 1 || maxLength < 2) {
            throw new IllegalArgumentException("batch size, gradient accumulation and epochs must be at least 1, max length at least 2");
        }
        if (method == Method.KTO && batchSize < 2) {
            throw new IllegalArgumentException("KTO needs a batch size of at least 2: its reference point comes from "
                    + "mismatched pairs within a batch");
        }
        if (!(learningRate > 0) || Double.isInfinite(learningRate)) {
            throw new IllegalArgumentException("learning rate must be positive, not " + learningRate);
        }
        // β scales every preference loss; a negative one would train towards the answers users disliked.
        if (!(beta > 0) || Double.isInfinite(beta)) {
            throw new IllegalArgumentException("beta must be positive, not " + beta);
        }
        if (!(warmupRatio >= 0 && warmupRatio <= 1) || !(labelSmoothing >= 0 && labelSmoothing < 0.5)) {
            throw new IllegalArgumentException("warmup ratio must lie in [0, 1] and label smoothing in [0, 0.5), not "
                    + warmupRatio + " and " + labelSmoothing);
        }
        if (rpoAlpha != null && !(rpoAlpha >= 0 && rpoAlpha < Double.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException("rpo alpha must be a non-negative number, not " + rpoAlpha);
        }
        if (desirableWeight != null && !(desirableWeight > 0) || undesirableWeight != null && !(undesirableWeight > 0)) {
            throw new IllegalArgumentException("desirable and undesirable weights must be positive, not "
                    + desirableWeight + " and " + undesirableWeight);
        }
    }

    /** TRL's defaults for the method (learning rate, β 0.1, linear decay), LoRA r=16, alpha=32 on every projection. */
    public static Builder builder(Method method) {
        return new Builder(method);
    }

    /** Fluent construction from the defaults; each setter names the TRL option it mirrors. */
    public static final class Builder {
        private final Method method;
        private int batchSize = 8;
        private int gradientAccumulationSteps = 1;
        private int maxSteps = -1;
        private int epochs = 1;
        private double learningRate;
        private double warmupRatio;
        private LearningRateSchedule.Decay schedule = LearningRateSchedule.Decay.LINEAR;
        private double beta = 0.1;
        private DpoLoss.Type dpoLoss = DpoLoss.Type.SIGMOID;
        private double labelSmoothing;
        private Double rpoAlpha;
        private KtoLoss.Type ktoLoss = KtoLoss.Type.KTO;
        private Double desirableWeight;
        private Double undesirableWeight;
        private double centerRewardsCoefficient;
        private boolean shuffle;
        private long seed = 42;
        private int maxLength = 1024;
        private LoraAdapter.Config lora = new LoraAdapter.Config(16, 32, 0.05, LoraAdapter.ALL_TARGETS);
        private AdamW.Config adam = AdamW.Config.defaults();

        private Builder(Method method) {
            this.method = method;
            this.learningRate = switch (method) {
                case SFT -> 2e-5;
                case RM -> 1e-5;
                case DPO, KTO -> 1e-6;
            };
        }

        public Builder batchSize(int v) { batchSize = v; return this; }
        public Builder gradientAccumulationSteps(int v) { gradientAccumulationSteps = v; return this; }
        public Builder maxSteps(int v) { maxSteps = v; return this; }
        public Builder epochs(int v) { epochs = v; return this; }
        public Builder learningRate(double v) { learningRate = v; return this; }
        public Builder warmupRatio(double v) { warmupRatio = v; return this; }
        public Builder schedule(LearningRateSchedule.Decay v) { schedule = v; return this; }
        public Builder beta(double v) { beta = v; return this; }
        public Builder dpoLoss(DpoLoss.Type v) { dpoLoss = v; return this; }
        public Builder labelSmoothing(double v) { labelSmoothing = v; return this; }
        /** null: plain DPO. */
        public Builder rpoAlpha(Double v) { rpoAlpha = v; return this; }
        public Builder ktoLoss(KtoLoss.Type v) { ktoLoss = v; return this; }
        public Builder desirableWeight(Double v) { desirableWeight = v; return this; }
        public Builder undesirableWeight(Double v) { undesirableWeight = v; return this; }
        public Builder centerRewardsCoefficient(double v) { centerRewardsCoefficient = v; return this; }
        public Builder shuffle(boolean v) { shuffle = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder maxLength(int v) { maxLength = v; return this; }
        /** null: full fine-tuning. */
        public Builder lora(LoraAdapter.Config v) { lora = v; return this; }
        public Builder adam(AdamW.Config v) { adam = v; return this; }

        public TrainingOptions build() {
            return new TrainingOptions(method, batchSize, gradientAccumulationSteps, maxSteps, epochs, learningRate,
                    warmupRatio, schedule, beta, dpoLoss, labelSmoothing, rpoAlpha, ktoLoss, desirableWeight, undesirableWeight,
                    centerRewardsCoefficient, shuffle, seed, maxLength, lora, adam);
        }
    }
}
