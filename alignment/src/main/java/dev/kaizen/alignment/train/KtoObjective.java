package dev.kaizen.alignment.train;

import java.util.ArrayList;
import java.util.List;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.alignment.loss.LossOutput;
import dev.kaizen.alignment.loss.TokenKl;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.NoGrad;
import dev.kaizen.alignment.score.PaddedBatch;
import dev.kaizen.alignment.score.Scorer;

/**
 * KTO, as TRL's KTOTrainer: each answer scored by the policy and the reference, the reference
 * point from mismatched prompt/answer pairs within the batch, desirable and undesirable answers
 * weighted by {@code weights}.
 */
final class KtoObjective implements Objective<KtoObjective.Example> {

    /** A row's prompt and answer tokens, and whether the answer is one to want. */
    record Example(int[] prompt, int[] completion, boolean desirable) {}

    private final LlamaForCausalLM policy;
    private final Reference reference;
    private final Sequences sequences;
    private final KtoLoss.Config weights;

    KtoObjective(LlamaForCausalLM policy, Reference reference, Sequences sequences, KtoLoss.Config weights) {
        this.policy = policy;
        this.reference = reference;
        this.sequences = sequences;
        this.weights = weights;
    }

    /** The paper's weights for a dataset, unless {@code options} sets them: desirable and undesirable answers count alike. */
    static KtoLoss.Config weights(TrainingOptions options, List<Row> dataset) {
        if (options.desirableWeight() != null || options.undesirableWeight() != null) {
            return new KtoLoss.Config(options.ktoLoss(), options.beta(),
                    options.desirableWeight() == null ? 1 : options.desirableWeight(),
                    options.undesirableWeight() == null ? 1 : options.undesirableWeight());
        }
        long desirable = dataset.stream().filter(r -> !(r instanceof Row.Unpaired u) || u.desirable()).count();
        return KtoLoss.weighted(new KtoLoss.Config(options.ktoLoss(), options.beta(), 1, 1), desirable, dataset.size() - desirable);
    }

    /** The same objective with other weights: the online job weighs each batch by its own mix. */
    KtoObjective withWeights(KtoLoss.Config other) {
        return new KtoObjective(policy, reference, sequences, other);
    }

    /** The reference point comes from mismatched pairs, so a batch needs two rows. */
    @Override
    public int minBatch() {
        return 2;
    }

    @Override
    public Example encode(Row row) {
        return new Example(sequences.prompt(row), sequences.completion(Sequences.completion(row, "KTO")),
                !(row instanceof Row.Unpaired u) || u.desirable());
    }

    /** A batch's rows with their own answers, with their mismatched partners' answers, and which answers are desirable. */
    private record Batches(PaddedBatch own, PaddedBatch pairs, float[] desirable) {}

    private Batches batches(List<Example> batch) {
        int n = batch.size();
        List<Scorer.Sequence> own = new ArrayList<>();
        List<Scorer.Sequence> mismatched = new ArrayList<>();
        float[] desirable = new float[n];
        for (int i = 0; i < n; i++) {
            Example e = batch.get(i);
            own.add(sequences.of(e.prompt(), e.completion()));
            mismatched.add(sequences.of(e.prompt(), batch.get(KtoLoss.mismatchedPartner(i, n)).completion()));
            desirable[i] = e.desirable() ? 1 : 0;
        }
        return new Batches(PaddedBatch.of(own), PaddedBatch.of(mismatched), desirable);
    }

    @Override
    public LossOutput loss(List<Example> batch, NDManager m) {
        Batches b = batches(batch);
        // The three forwards without a graph come first, so their transient peaks never stack on the
        // activations the graph keeps for backward.
        NDArray policyKl;
        try (NoGrad noGrad = NoGrad.enter()) {
            policyKl = b.pairs().completionSums(policy, m);
        }
        NDArray referenceKl = reference.completionSums(b.pairs(), m);
        NDArray referenceSums = reference.completionSums(b.own(), m);
        return KtoLoss.compute(b.own().completionSums(policy, m), referenceSums, policyKl, referenceKl, m.create(b.desirable()), weights);
    }

    /** In {@link #loss}'s order: the mismatched pairs, then the rows' own answers. */
    @Override
    public boolean computeReferenceAhead(List<Example> batch) {
        if (!reference.separate()) {
            return false;
        }
        Batches b = batches(batch);
        reference.computeAhead(b.pairs());
        reference.computeAhead(b.own());
        return true;
    }

    @Override
    public void closeReference() {
        reference.close();
    }

    /** The exact per-token KL of the policy from the reference on the batch's own answers, averaged over answer tokens. */
    double klToReference(List<Example> batch) {
        PaddedBatch padded = PaddedBatch.of(batch.stream().map(e -> sequences.of(e.prompt(), e.completion())).toList());
        try (NoGrad noGrad = NoGrad.enter(); NDScope scope = new NDScope(); NDManager m = policy.manager().newSubManager()) {
            NDArray policyLogits = policy.head(padded.completionHidden(policy, m));
            NDArray referenceLogits = reference.completionLogits(padded, m);
            return TokenKl.mean(policyLogits, referenceLogits, m.ones(new Shape(policyLogits.getShape().get(0)))).getFloat();
        }
    }
}
