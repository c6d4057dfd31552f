package dev.kaizen.alignment.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
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
import dev.kaizen.alignment.score.SharedPromptBatch;

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

    /**
     * Tokens (rows × padded length) above which a batch's graph is built and differentiated in parts
     * of rows: 16 answers of 512 tokens keep a quarter of their activations for backward at a time.
     */
    static final int PART_TOKENS = 2048;

    /** Answer positions whose logits, policy's and reference's, the exact KL reads at a time. */
    private static final long KL_POSITIONS = 2048;

    /**
     * A batch's rows with their own answers (and those padded), their mismatched pairs padded, which
     * answers are desirable; and both in rows that share their prompt, when the batch is scored whole
     * and such rows are not too long (null otherwise).
     */
    private record Batches(List<Scorer.Sequence> ownRows, PaddedBatch own, PaddedBatch pairs, SharedPromptBatch shared,
                           float[] desirable) {
        int n() {
            return ownRows.size();
        }
    }

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
        PaddedBatch padded = PaddedBatch.of(own);
        SharedPromptBatch shared = partRows(padded) >= n ? SharedPromptBatch.of(own, mismatched) : null;
        return new Batches(own, padded, PaddedBatch.of(mismatched), shared, desirable);
    }

    /** Rows a part of a long batch differentiates at a time. */
    private static int partRows(PaddedBatch own) {
        return Math.max(1, PART_TOKENS / own.ids()[0].length);
    }

    /** What a batch's loss reads besides the policy's own sums, none of it differentiated. */
    private record Fixed(NDArray policyKl, NDArray referenceKl, NDArray referenceSums, NDArray desirable) {
        LossOutput loss(NDArray policySums, KtoLoss.Config weights) {
            return KtoLoss.compute(policySums, referenceSums, policyKl, referenceKl, desirable, weights);
        }
    }

    /**
     * The forwards without a graph (the policy's on the pairs, the reference's on both, in one when
     * they share their prompts): they come before the one with, so their transient peaks never stack
     * on the activations the graph keeps for backward.
     */
    private Fixed fixed(Batches b, NDManager m) {
        NDArray policyKl;
        try (NoGrad noGrad = NoGrad.enter()) {
            policyKl = b.pairs().completionSums(policy, m);
        }
        NDArray desirable = m.create(b.desirable());
        if (b.shared() != null) {
            NDArray sums = reference.completionSums(b.shared(), m);
            return new Fixed(policyKl, sums.get(b.n() + ":"), sums.get(":" + b.n()), desirable);
        }
        return new Fixed(policyKl, reference.completionSums(b.pairs(), m), reference.completionSums(b.own(), m), desirable);
    }

    @Override
    public LossOutput loss(List<Example> batch, NDManager m) {
        Batches b = batches(batch);
        // With an adapter the policy also scores both answers to a prompt in one forward, the pairs'
        // with a graph they do not need (3.1 instead of 3.6 s a step for the 135M shape's bench batch,
        // at 12% more memory). Fully fine-tuned, that saved nothing measurable and cost 8% more memory.
        if (b.shared() != null && reference.isPolicyWithAdapterOff()) {
            NDArray referenceSums = reference.completionSums(b.shared(), m);
            NDArray policySums = b.shared().completionSums(policy, m);
            String own = ":" + b.n();
            String pairs = b.n() + ":";
            return KtoLoss.compute(policySums.get(own), referenceSums.get(own), policySums.get(pairs).stopGradient(),
                    referenceSums.get(pairs), m.create(b.desirable()), weights);
        }
        Fixed fixed = fixed(b, m);
        return fixed.loss(b.own().completionSums(policy, m), weights);
    }

    /**
     * Each row's loss depends on its own log-prob sum alone (z0 comes from the mismatched pairs,
     * without gradients), so a long batch is differentiated in parts of rows: each part's loss is the
     * batch's with the other rows' sums held constant, and the parts' gradients add up to the
     * batch's. The metrics are the whole batch's, from every part's sums.
     */
    @Override
    public Map<String, Double> differentiate(List<Example> batch, NDManager m, Consumer<LossOutput> backward) {
        Batches b = batches(batch);
        int n = batch.size();
        int perPart = partRows(b.own());
        if (perPart >= n) {
            return Objective.super.differentiate(batch, m, backward);
        }
        Fixed fixed = fixed(b, m);
        float[] policySums = new float[n];
        for (int from = 0; from < n; from += perPart) {
            int to = Math.min(n, from + perPart);
            try (NDManager part = m.newSubManager()) {
                NDArray sums = PaddedBatch.of(b.ownRows().subList(from, to)).completionSums(policy, part);
                // The other rows at their reference sums: constants, whatever their value.
                NDArray others = fixed.referenceSums();
                backward.accept(fixed.loss(NDArrays.concat(new NDList(others.get(":" + from), sums, others.get(to + ":"))), weights));
                System.arraycopy(sums.toFloatArray(), 0, policySums, from, to - from);
            }
        }
        try (NoGrad noGrad = NoGrad.enter()) {
            return fixed.loss(m.create(policySums), weights).metrics();
        }
    }

    /** In {@link #loss}'s order: the rows with a shared prompt, or the mismatched pairs, then the rows' own answers. */
    @Override
    public boolean computeReferenceAhead(List<Example> batch) {
        if (!reference.separate()) {
            return false;
        }
        Batches b = batches(batch);
        if (b.shared() != null) {
            reference.computeAhead(b.shared());
        } else {
            reference.computeAhead(b.pairs());
            reference.computeAhead(b.own());
        }
        return true;
    }

    @Override
    public void closeReference() {
        reference.close();
    }

    /**
     * The exact per-token KL of the policy from the reference on the batch's own answers, averaged
     * over answer tokens; the vocabulary-wide logits exist for {@link #KL_POSITIONS} positions at a time.
     */
    double klToReference(List<Example> batch) {
        PaddedBatch padded = PaddedBatch.of(batch.stream().map(e -> sequences.of(e.prompt(), e.completion())).toList());
        try (NoGrad noGrad = NoGrad.enter(); NDScope scope = new NDScope(); NDManager m = policy.manager().newSubManager()) {
            NDArray policyHidden = padded.completionHidden(policy, m);
            NDArray referenceHidden = reference.completionHidden(padded, m);
            long n = policyHidden.getShape().get(0);
            double sum = 0;
            for (long from = 0; from < n; from += KL_POSITIONS) {
                String slice = from + ":" + Math.min(n, from + KL_POSITIONS);
                try (NDScope chunk = new NDScope()) {
                    NDArray p = policy.head(policyHidden.get(slice));
                    NDArray q = reference.head(referenceHidden.get(slice));
                    long positions = p.getShape().get(0);
                    sum += TokenKl.mean(p, q, m.ones(new Shape(positions))).getFloat() * positions;
                }
            }
            return sum / n;
        }
    }
}
