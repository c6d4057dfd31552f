package dev.kaizen.alignment.train;

import java.util.List;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.loss.LossOutput;
import dev.kaizen.alignment.loss.RewardLoss;
import dev.kaizen.alignment.model.LlamaForSequenceClassification;
import dev.kaizen.alignment.score.PaddedBatch;

/** Reward modelling, as TRL's RewardTrainer: the Bradley–Terry loss on the rewards of chosen and rejected answers. */
final class RewardObjective implements Objective<Sequences.Pair> {

    private final LlamaForSequenceClassification model;
    private final Sequences sequences;
    private final double centerRewardsCoefficient;

    RewardObjective(LlamaForSequenceClassification model, Sequences sequences, double centerRewardsCoefficient) {
        this.model = model;
        this.sequences = sequences;
        this.centerRewardsCoefficient = centerRewardsCoefficient;
    }

    @Override
    public Sequences.Pair encode(Row row) {
        return sequences.pair(row, "reward modelling");
    }

    @Override
    public LossOutput loss(List<Sequences.Pair> batch, NDManager m) {
        PaddedBatch padded = Sequences.chosenThenRejected(batch);
        NDArray rewards = model.rewards(m.create(padded.ids()), m.create(padded.attention())).reshape(-1);
        long n = batch.size();
        NDArray margin = batch.stream().anyMatch(p -> p.margin() != null) ? m.create(margins(batch)) : null;
        return RewardLoss.compute(rewards.get(":" + n), rewards.get(n + ":"), margin, centerRewardsCoefficient);
    }

    private static float[] margins(List<Sequences.Pair> batch) {
        float[] margins = new float[batch.size()];
        for (int i = 0; i < margins.length; i++) {
            margins[i] = batch.get(i).margin() == null ? 0 : batch.get(i).margin().floatValue();
        }
        return margins;
    }
}
