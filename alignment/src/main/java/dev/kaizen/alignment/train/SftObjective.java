package dev.kaizen.alignment.train;

import java.util.List;

import ai.djl.ndarray.NDManager;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.loss.LossOutput;
import dev.kaizen.alignment.loss.SftLoss;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.score.PaddedBatch;
import dev.kaizen.alignment.score.Scorer;

/** Supervised fine-tuning, as TRL's SFTTrainer: the mean negative log-likelihood of the completion tokens. */
final class SftObjective implements Objective<Scorer.Sequence> {

    private final LlamaForCausalLM policy;
    private final Sequences sequences;

    SftObjective(LlamaForCausalLM policy, Sequences sequences) {
        this.policy = policy;
        this.sequences = sequences;
    }

    @Override
    public Scorer.Sequence encode(Row row) {
        return sequences.of(sequences.prompt(row), sequences.completion(Sequences.completion(row, "SFT")));
    }

    @Override
    public LossOutput loss(List<Scorer.Sequence> batch, NDManager m) {
        PaddedBatch padded = PaddedBatch.of(batch);
        return SftLoss.compute(padded.tokenLogProbs(policy, m), m.create(padded.completionMask()));
    }
}
