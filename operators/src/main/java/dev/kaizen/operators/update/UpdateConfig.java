package dev.kaizen.operators.update;

import java.io.Serializable;

import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.train.AdamW;
import dev.kaizen.alignment.train.TrainingOptions;

/**
 * How the update stage trains: the base model every version is an adapter on (a Hugging Face
 * directory readable from each TaskManager), where checkpoints go, and the KTO and LoRA settings
 * under TRL's and PEFT's names. {@code klBudget} is in nats per completion token;
 * {@code baseModelName} (announced as base_model) defaults to the directory.
 */
public record UpdateConfig(
        String baseModelDir,
        String baseModelName,
        String checkpointRoot,
        double learningRate,
        double beta,
        KtoLoss.Type lossType,
        int loraRank,
        double loraAlpha,
        double loraDropout,
        double klBudget,
        long seed,
        int maxLength) implements Serializable {

    public String baseModel() {
        return baseModelName != null ? baseModelName : baseModelDir;
    }

    /**
     * One step per batch at a constant learning rate (a stream has no end to decay towards); the
     * batch size here is only the floor KTO needs, each step takes the batch it is given.
     */
    TrainingOptions trainingOptions() {
        return TrainingOptions.builder(TrainingOptions.Method.KTO).batchSize(2).learningRate(learningRate)
                .beta(beta).ktoLoss(lossType).seed(seed).maxLength(maxLength).adam(AdamW.Config.defaults())
                .lora(new LoraAdapter.Config(loraRank, loraAlpha, loraDropout, LoraAdapter.ALL_TARGETS)).build();
    }

    /** KTO's loss unweighted: each step weights it by the [1, 4/3] rule for its own samples. */
    KtoLoss.Config loss() {
        return new KtoLoss.Config(lossType, beta, 1, 1);
    }
}
