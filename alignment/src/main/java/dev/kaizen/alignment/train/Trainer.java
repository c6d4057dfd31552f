package dev.kaizen.alignment.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.Function;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.alignment.loss.LossOutput;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LlamaForSequenceClassification;
import dev.kaizen.alignment.model.LlamaPreTrainedModel;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.model.NoGrad;
import dev.kaizen.alignment.model.Scalar;
import dev.kaizen.alignment.score.Scorer;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.alignment.tokenize.TokenizerFiles;
import dev.kaizen.alignment.weights.Dtype;
import dev.kaizen.alignment.weights.ModelWeights;
import dev.kaizen.alignment.weights.SafetensorsFile;
import dev.kaizen.alignment.weights.SafetensorsWriter;
import dev.kaizen.alignment.weights.Tensor;

/**
 * Trains a model on one objective ({@link #sft}, {@link #rewardModel}, {@link #dpo}, {@link #kto};
 * PPO is {@link PpoTrainer}) over rows in batches: each micro-batch's loss is differentiated under
 * the JVM's gradient lease inside its own scope, gradients accumulate over
 * {@code gradientAccumulationSteps}, then AdamW steps (clipping the gradient norm) on the
 * schedule. With LoRA the reference is the policy with its adapter off; with full fine-tuning it
 * is a separate model.
 */
public final class Trainer implements AutoCloseable {

    /** One optimizer step's metrics, averaged over its micro-batches, under TRL's names. */
    public record Step(int step, int totalSteps, double epoch, Map<String, Double> metrics) {}

    /**
     * One online step: applied, or dropped by a guard ({@code rejection} says why), in which case
     * the adapter and optimizer are exactly as before it.
     */
    public record OnlineStep(Map<String, Double> metrics, String rejection) {
        public boolean applied() {
            return rejection == null;
        }
    }

    public static final String OPTIMIZER_FILE = "optimizer.safetensors";
    public static final String NON_FINITE_LOSS = "non-finite-loss";
    public static final String NON_FINITE_GRADIENT = "non-finite-gradient";
    public static final String KL_OVER_BUDGET = "kl-over-budget";
    private static final int NLL_BATCH = 8;
    private static final int EVAL_BATCH = 16;

    private final LlamaPreTrainedModel model;
    private final TrainingOptions options;
    private final LoraAdapter adapter;
    private final AdamW adam;
    private final Objective<?> objective;
    private final Sequences sequences;

    /**
     * {@code adapter} null: full fine-tuning. A score head always trains, as PEFT's
     * modules_to_save: a reward model's head starts untrained.
     */
    private Trainer(LlamaPreTrainedModel model, TrainingOptions options, LoraAdapter adapter, Sequences sequences,
                    Function<LoraAdapter, Objective<?>> objective) {
        this.model = model;
        this.options = options;
        this.adapter = adapter;
        this.sequences = sequences;
        Map<String, NDArray> trainable = new LinkedHashMap<>(adapter == null ? model.parameters() : adapter.parameters());
        if (model instanceof LlamaForSequenceClassification) {
            trainable.put("score.weight", model.parameters().get("score.weight"));
        }
        this.adam = new AdamW(trainable, options.adam());
        try {
            this.objective = objective.apply(adapter);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** A fresh LoRA adapter on {@code model} as {@code options} configure it, or null for full fine-tuning. */
    private static LoraAdapter attach(LlamaPreTrainedModel model, TrainingOptions options) {
        Engine.getInstance().setRandomSeed((int) options.seed());
        return options.lora() == null ? null : LoraAdapter.attach(model, options.lora(), options.seed());
    }

    private static Sequences sequences(ChatTokenizer tokenizer, TrainingOptions options) {
        return new Sequences(tokenizer, options.maxLength());
    }

    /** Supervised fine-tuning of {@code policy} on prompt/completion rows. */
    public static Trainer sft(LlamaForCausalLM policy, ChatTokenizer tokenizer, TrainingOptions options) {
        Sequences seqs = sequences(tokenizer, options);
        return new Trainer(policy, options, attach(policy, options), seqs, adapter -> new SftObjective(policy, seqs));
    }

    /** A Bradley–Terry reward model on preference rows (make one from a causal model with {@link LlamaForCausalLM#toRewardModel}). */
    public static Trainer rewardModel(LlamaForSequenceClassification model, ChatTokenizer tokenizer, TrainingOptions options) {
        Sequences seqs = sequences(tokenizer, options);
        return new Trainer(model, options, attach(model, options), seqs,
                adapter -> new RewardObjective(model, seqs, options.centerRewardsCoefficient()));
    }

    /**
     * DPO on preference rows; {@code reference} may be null with LoRA. A separate reference is closed
     * by {@link #train(List, Consumer, Consumer)} once it has computed ahead what training reads.
     */
    public static Trainer dpo(LlamaForCausalLM policy, ChatTokenizer tokenizer, LlamaForCausalLM reference, TrainingOptions options) {
        Sequences seqs = sequences(tokenizer, options);
        return new Trainer(policy, options, attach(policy, options), seqs, adapter -> new DpoObjective(policy,
                Reference.of(policy, reference, adapter, "DPO"), seqs, options));
    }

    /**
     * KTO on unpaired rows, weighted for {@code dataset}'s mix unless the options set weights;
     * {@code reference} may be null with LoRA. A separate reference is closed by
     * {@link #train(List, Consumer, Consumer)} once it has computed ahead what training reads.
     */
    public static Trainer kto(LlamaForCausalLM policy, ChatTokenizer tokenizer, LlamaForCausalLM reference, TrainingOptions options,
                              List<Row> dataset) {
        Sequences seqs = sequences(tokenizer, options);
        return new Trainer(policy, options, attach(policy, options), seqs, adapter -> new KtoObjective(policy,
                Reference.of(policy, reference, adapter, "KTO"), seqs, KtoObjective.weights(options, dataset)));
    }

    /**
     * Online KTO as the streaming job runs it ({@link #step}): continues the LoRA adapter in
     * {@code checkpoint} (as {@link #saveCheckpoint} wrote it, optimizer state included) on
     * {@code policy}, or a fresh adapter when it is null.
     */
    public static Trainer resume(LlamaForCausalLM policy, ChatTokenizer tokenizer, TrainingOptions options, Path checkpoint) {
        if (options.lora() == null) {
            throw new IllegalArgumentException("online training continues a LoRA adapter; full fine-tuning has no adapter to resume");
        }
        Sequences seqs = sequences(tokenizer, options);
        Function<LoraAdapter, Objective<?>> kto = adapter -> new KtoObjective(policy, Reference.of(policy, null, adapter, "KTO"),
                seqs, new KtoLoss.Config(options.ktoLoss(), options.beta(), 1, 1));
        if (checkpoint == null) {
            return new Trainer(policy, options, attach(policy, options), seqs, kto);
        }
        Engine.getInstance().setRandomSeed((int) options.seed());
        Trainer trainer = new Trainer(policy, options, LoraAdapter.load(policy, checkpoint), seqs, kto);
        try (SafetensorsFile file = SafetensorsFile.open(checkpoint.resolve(OPTIMIZER_FILE));
             NDManager scratch = policy.manager().newSubManager()) {
            Map<String, float[]> expAvg = new LinkedHashMap<>();
            Map<String, float[]> expAvgSq = new LinkedHashMap<>();
            trainer.adapter.parameters().keySet().forEach(name -> {
                expAvg.put(name, file.toNDArray("exp_avg." + name, scratch).toFloatArray());
                expAvgSq.put(name, file.toNDArray("exp_avg_sq." + name, scratch).toFloatArray());
            });
            trainer.adam.restore(new AdamW.State(null, expAvg, expAvgSq, Long.parseLong(file.metadata().getOrDefault("step", "0"))));
        } catch (RuntimeException e) {
            trainer.close();
            throw e;
        }
        return trainer;
    }

    public LoraAdapter adapter() {
        return adapter;
    }

    /** Runs the configured epochs or steps over {@code rows}, reporting each optimizer step. */
    public List<Step> train(List<Row> rows, Consumer<Step> onStep) {
        return train(rows, progress -> {}, onStep);
    }

    /**
     * As {@link #train(List, Consumer)}, also reporting the reference sums computed ahead: with a
     * separate reference model (DPO and KTO without LoRA) every sum training will read is computed
     * before the first step, for the very batches it will form, and the reference model is then
     * closed, so training holds one model's weights fewer with the same results.
     */
    public List<Step> train(List<Row> rows, Consumer<ReferenceProgress> onReference, Consumer<Step> onStep) {
        return train(objective, rows, onReference, onStep);
    }

    /** Of a run's {@code batches}, {@code done} have their reference sums computed ahead. */
    public record ReferenceProgress(int done, int batches) {}

    /** One micro-batch of a run, how far through the epochs it ends, and whether an optimizer step follows it. */
    private record Micro<E>(List<E> batch, double epoch, boolean stepAfter) {}

    private <E> List<Step> train(Objective<E> objective, List<Row> rows, Consumer<ReferenceProgress> onReference,
                                 Consumer<Step> onStep) {
        List<E> encoded = rows.stream().map(objective::encode).toList();
        int rest = encoded.size() % options.batchSize();
        int batchesPerEpoch = encoded.size() / options.batchSize() + (rest >= objective.minBatch() ? 1 : 0);
        if (batchesPerEpoch == 0) {
            throw new IllegalArgumentException("the dataset has " + encoded.size() + " rows, too few for one batch");
        }
        int total = options.maxSteps() > 0 ? options.maxSteps()
                : (int) Math.ceil((double) options.epochs() * batchesPerEpoch / options.gradientAccumulationSteps());
        List<Micro<E>> plan = plan(encoded, batchesPerEpoch, total);
        computeReferenceAhead(objective, plan, onReference);
        LearningRateSchedule schedule = new LearningRateSchedule(options.learningRate(),
                (int) Math.round(options.warmupRatio() * total), total, options.schedule());
        List<Step> steps = new ArrayList<>();
        Map<String, Double> sums = new LinkedHashMap<>();
        int micro = 0;
        if (adapter != null) {
            adapter.setTraining(true);
        }
        try {
            for (Micro<E> next : plan) {
                backward(objective, next.batch()).forEach((k, v) -> sums.merge(k, v, Double::sum));
                micro++;
                if (next.stepAfter()) {
                    double lr = schedule.at(steps.size());
                    Map<String, Double> metrics = new LinkedHashMap<>();
                    int n = micro;
                    sums.forEach((k, v) -> metrics.put(k, v / n));
                    metrics.put("grad_norm", adam.step(lr));
                    metrics.put("learning_rate", lr);
                    sums.clear();
                    micro = 0;
                    Step step = new Step(steps.size() + 1, total, next.epoch(), metrics);
                    steps.add(step);
                    onStep.accept(step);
                }
            }
        } finally {
            if (adapter != null) {
                adapter.setTraining(false);
            }
        }
        return steps;
    }

    /**
     * The micro-batches of {@code total} optimizer steps in order: each epoch's rows shuffled by its
     * own seed, gradients accumulated over {@code gradientAccumulationSteps} micro-batches, the
     * last step flushed at the end of an epoch.
     */
    private <E> List<Micro<E>> plan(List<E> encoded, int batchesPerEpoch, int total) {
        List<Micro<E>> plan = new ArrayList<>();
        int steps = 0;
        int micro = 0;
        for (int epoch = 0; steps < total; epoch++) {
            List<E> order = new ArrayList<>(encoded);
            if (options.shuffle()) {
                Collections.shuffle(order, new Random(options.seed() + epoch));
            }
            for (int b = 0; b < batchesPerEpoch && steps < total; b++) {
                boolean stepAfter = ++micro % options.gradientAccumulationSteps() == 0 || (b == batchesPerEpoch - 1 && steps == total - 1);
                if (stepAfter) {
                    steps++;
                    micro = 0;
                }
                plan.add(new Micro<>(order.subList(b * options.batchSize(), Math.min(order.size(), (b + 1) * options.batchSize())),
                        epoch + (b + 1.0) / batchesPerEpoch, stepAfter));
            }
        }
        return plan;
    }

    /** Computes ahead what every micro-batch of {@code plan} reads from a separate reference model, then closes that model. */
    private static <E> void computeReferenceAhead(Objective<E> objective, List<Micro<E>> plan, Consumer<ReferenceProgress> onReference) {
        for (int i = 0; i < plan.size(); i++) {
            if (!objective.computeReferenceAhead(plan.get(i).batch())) {
                return;
            }
            onReference.accept(new ReferenceProgress(i + 1, plan.size()));
        }
        objective.closeReference();
    }

    /**
     * One KTO step on {@code batch} at the configured (constant) learning rate, as the streaming job
     * runs it, behind three guards: a non-finite loss or gradient norm, or an exact per-token KL of
     * the updated policy from the reference on the batch above {@code klBudget}, drops the step.
     */
    public OnlineStep step(List<Row> batch, KtoLoss.Config weights, double klBudget) {
        if (!(objective instanceof KtoObjective kto)) {
            throw new IllegalStateException("online steps are KTO's; this trainer was made for another objective");
        }
        KtoObjective weighted = kto.withWeights(weights);
        List<KtoObjective.Example> encoded = batch.stream().map(weighted::encode).toList();
        AdamW.State before = adam.state();
        Map<String, Double> metrics;
        adapter.setTraining(true);
        try {
            metrics = new LinkedHashMap<>(backward(weighted, encoded));
            metrics.put("grad_norm", adam.step(options.learningRate()));
        } catch (NonFiniteLossException e) {
            adam.zeroGradients();  // parts of a long batch differentiated before the non-finite one
            return new OnlineStep(e.metrics(), NON_FINITE_LOSS);
        } catch (NonFiniteGradientException e) {
            return new OnlineStep(Map.of("grad_norm", Double.NaN), NON_FINITE_GRADIENT);
        } finally {
            adapter.setTraining(false);
        }
        double kl = weighted.klToReference(encoded);
        metrics.put("kl_to_reference", kl);
        if (!(kl <= klBudget)) {
            adam.restore(before);
            return new OnlineStep(metrics, KL_OVER_BUDGET);
        }
        return new OnlineStep(metrics, null);
    }

    /**
     * The mean negative log-likelihood per completion token of {@code rows} (prompt and completion)
     * under the model as it stands, in nats: what a release gate compares between versions. Call it
     * inside {@link LoraAdapter#disabled()} for the base model.
     */
    public double completionNll(List<Row> rows) {
        if (!(model instanceof LlamaForCausalLM causal)) {
            throw new IllegalStateException("a completion's likelihood is a causal model's; this trainer trains a reward model");
        }
        double logprobs = 0;
        long tokens = 0;
        for (int from = 0; from < rows.size(); from += NLL_BATCH) {
            List<Scorer.Sequence> batch = rows.subList(from, Math.min(rows.size(), from + NLL_BATCH)).stream()
                    .map(row -> sequences.of(sequences.prompt(row), sequences.completion(Sequences.completion(row, "a likelihood"))))
                    .toList();
            for (Scorer.Scored scored : Scorer.score(causal, batch)) {
                logprobs += scored.completionSum();
            }
            tokens += batch.stream().mapToLong(seq -> seq.ids().length - seq.completionStart()).sum();
        }
        if (tokens == 0) {
            throw new IllegalArgumentException("no completion tokens to score");
        }
        return -logprobs / tokens;
    }

    /**
     * KTO's loss and metrics on {@code rows} without training, named as TRL's evaluation names them
     * ({@code eval_loss}, {@code eval_kl}, {@code eval_rewards/chosen} …): weighted by the [1, 4/3]
     * rule for the rows' mix, averaged over batches of 16 by their sizes (a lone last row joins the
     * batch before it: KTO's reference point needs a pair).
     */
    public Map<String, Double> evaluate(List<Row> rows) {
        if (!(objective instanceof KtoObjective kto)) {
            throw new IllegalStateException("evaluation is KTO's; this trainer was made for another objective");
        }
        int n = rows.size();
        if (n < 2) {
            throw new IllegalArgumentException("KTO evaluates at least 2 rows, not " + n);
        }
        long desirable = rows.stream().filter(r -> !(r instanceof Row.Unpaired u) || u.desirable()).count();
        KtoObjective weighted = kto.withWeights(KtoLoss.weighted(new KtoLoss.Config(options.ktoLoss(), options.beta(), 1, 1),
                desirable, n - desirable));
        List<KtoObjective.Example> encoded = rows.stream().map(weighted::encode).toList();
        Map<String, double[]> sums = new TreeMap<>();
        for (int from = 0, to; from < n; from = to) {
            to = n - (from + EVAL_BATCH) < 2 ? n : from + EVAL_BATCH;
            List<KtoObjective.Example> batch = encoded.subList(from, to);
            try (NoGrad noGrad = NoGrad.enter(); NDScope scope = new NDScope(); NDManager m = model.manager().newSubManager()) {
                weighted.loss(batch, m).metrics().forEach((name, value) -> {
                    double[] sum = sums.computeIfAbsent(name, k -> new double[2]);
                    sum[0] += value * batch.size();
                    sum[1] += batch.size();
                });
            }
        }
        Map<String, Double> metrics = new LinkedHashMap<>();
        sums.forEach((name, sum) -> metrics.put("eval_" + name, sum[0] / sum[1]));
        return metrics;
    }

    /**
     * Differentiates one micro-batch's loss, scaled for accumulation; a non-finite loss (or part of
     * one) is refused before it touches a gradient.
     */
    private <E> Map<String, Double> backward(Objective<E> objective, List<E> batch) {
        try (GradientLease lease = GradientLease.acquire();
             GradientCollector collector = Engine.getInstance().newGradientCollector();
             NDScope scope = new NDScope();
             NDManager m = model.manager().newSubManager()) {
            return objective.differentiate(batch, m, out -> {
                if (!Double.isFinite(out.loss().getFloat())) {
                    throw new NonFiniteLossException(out.metrics());
                }
                collector.backward(out.loss().div(Scalar.of(out.loss(), options.gradientAccumulationSteps())));
            });
        }
    }

    /**
     * Writes the result: a PEFT adapter directory with LoRA, else a full Hugging Face model
     * directory with the base's tokenizer files. A reward model is always written whole, its
     * adapter merged, so it loads as a *ForSequenceClassification.
     */
    public void save(Path out, Path baseDir) throws IOException {
        if (adapter != null && !(model instanceof LlamaForSequenceClassification)) {
            adapter.save(out, baseDir.toString());
            return;
        }
        ModelWeights.write(out, adapter == null ? model.tensors() : adapter.mergedTensors(), ModelWeights.DEFAULT_SHARD_BYTES);
        model.config().write(out.resolve("config.json"));
        TokenizerFiles.copy(baseDir, out);
    }

    /** The adapter directory with the optimizer's moments and step count beside it, so {@link #resume} continues exactly. */
    public void saveCheckpoint(Path out, Path baseDir) throws IOException {
        save(out, baseDir);
        AdamW.State state = adam.state();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        adapter.parameters().forEach((name, p) -> {
            long[] shape = p.getShape().getShape();
            tensors.put("exp_avg." + name, new Tensor(Dtype.F32, shape, state.expAvg().get(name)));
            tensors.put("exp_avg_sq." + name, new Tensor(Dtype.F32, shape, state.expAvgSq().get(name)));
        });
        SafetensorsWriter.write(out.resolve(OPTIMIZER_FILE), tensors, Map.of("format", "pt", "step", Long.toString(state.steps())));
    }

    @Override
    public void close() {
        adam.close();
        if (adapter != null) {
            adapter.close();
        }
    }
}
