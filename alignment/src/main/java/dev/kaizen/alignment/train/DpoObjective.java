package dev.kaizen.alignment.train;

import java.util.List;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.loss.DpoLoss;
import dev.kaizen.alignment.loss.LossOutput;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.score.CompletionBatch;

/**
 * DPO (or IPO), as TRL's DPOTrainer: chosen and rejected answers scored by the policy and the
 * reference in one padded batch; IPO compares per-token means instead of sums; with {@code rpoAlpha}
 * the chosen answers' NLL is added (RPO).
 */
final class DpoObjective implements Objective<Sequences.Pair> {

    private final LlamaForCausalLM policy;
    private final Reference reference;
    private final Sequences sequences;
    private final TrainingOptions options;

    DpoObjective(LlamaForCausalLM policy, Reference reference, Sequences sequences, TrainingOptions options) {
        this.policy = policy;
        this.reference = reference;
        this.sequences = sequences;
        this.options = options;
    }

    @Override
    public Sequences.Pair encode(Row row) {
        return sequences.pair(row, "DPO");
    }

    @Override
    public LossOutput loss(List<Sequences.Pair> batch, NDManager m) {
        CompletionBatch scored = Sequences.scoredChosenThenRejected(batch);
        NDArray policySums = scored.completionSums(policy, m);
        NDArray refSums = reference.completionSums(scored, m);
        NDArray tokens = m.create(Sequences.chosenThenRejected(batch).completionTokens());
        long n = batch.size();
        NDArray chosenSums = policySums.get(":" + n);
        if (options.dpoLoss() == DpoLoss.Type.IPO) {
            policySums = policySums.div(tokens);
            refSums = refSums.div(tokens);
        }
        LossOutput dpo = DpoLoss.compute(policySums.get(":" + n), policySums.get(n + ":"), refSums.get(":" + n), refSums.get(n + ":"),
                options.dpoLoss(), options.beta(), options.labelSmoothing());
        return options.rpoAlpha() == null ? dpo : DpoLoss.withChosenNll(dpo, chosenSums, tokens.get(":" + n), options.rpoAlpha());
    }

    @Override
    public boolean computeReferenceAhead(List<Sequences.Pair> batch) {
        if (!reference.separate()) {
            return false;
        }
        reference.computeAhead(Sequences.scoredChosenThenRejected(batch));
        return true;
    }

    @Override
    public void closeReference() {
        reference.close();
    }
}
