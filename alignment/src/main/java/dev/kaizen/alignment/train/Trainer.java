package dev.kaizen.alignment.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.loss.DpoLoss;
import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.alignment.loss.LossOutput;
import dev.kaizen.alignment.loss.RewardLoss;
import dev.kaizen.alignment.loss.SftLoss;
import dev.kaizen.alignment.loss.TokenKl;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.model.NoGrad;
import dev.kaizen.alignment.model.Scalar;
import dev.kaizen.alignment.score.PaddedBatch;
import dev.kaizen.alignment.score.Scorer;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.alignment.tokenize.TokenizerFiles;
import dev.kaizen.alignment.weights.Dtype;
import dev.kaizen.alignment.weights.ModelWeights;
import dev.kaizen.alignment.weights.SafetensorsFile;
import dev.kaizen.alignment.weights.SafetensorsWriter;
import dev.kaizen.alignment.weights.Tensor;

/**
 * Trains a policy with SFT, DPO or KTO, or a reward model (a *ForSequenceClassification model,
 * see {@link LlamaForCausalLM#toRewardModel}) with the Bradley–Terry loss, over rows in batches: each micro-batch's loss is
 * differentiated under the JVM's gradient lease inside its own scope, gradients accumulate over
 * {@code gradientAccumulationSteps}, then AdamW steps on the schedule. With LoRA the reference is
 * the policy with its adapter off; with full fine-tuning it is a separate model.
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

    /** A row's token ids: prompt, completion (chosen, for preferences) and, for preferences, the rejected one. */
    private record Encoded(int[] prompt, int[] completion, int[] rejected, boolean desirable, Double margin) {}

    private final LlamaForCausalLM policy;
    private final ChatTokenizer tokenizer;
    private final LlamaForCausalLM reference;
    private final TrainingOptions options;
    private final LoraAdapter adapter;
    private final AdamW adam;

    /** {@code reference} may be null with LoRA (the adapter switched off is the reference). */
    public Trainer(LlamaForCausalLM policy, ChatTokenizer tokenizer, LlamaForCausalLM reference, TrainingOptions options) {
        this(policy, tokenizer, reference, options, null);
    }

    /**
     * Continues training the LoRA adapter in {@code checkpoint} (as {@link #saveCheckpoint} wrote
     * it, optimizer state included) on {@code policy}, or a fresh adapter when it is null.
     */
    public static Trainer resume(LlamaForCausalLM policy, ChatTokenizer tokenizer, TrainingOptions options, Path checkpoint) {
        if (options.lora() == null) {
            throw new IllegalArgumentException("online training continues a LoRA adapter; full fine-tuning has no adapter to resume");
        }
        if (checkpoint == null) {
            return new Trainer(policy, tokenizer, null, options, null);
        }
        Trainer trainer = new Trainer(policy, tokenizer, null, options, LoraAdapter.load(policy, checkpoint));
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

    private Trainer(LlamaForCausalLM policy, ChatTokenizer tokenizer, LlamaForCausalLM reference, TrainingOptions options,
                    LoraAdapter resumed) {
        boolean rewardModel = options.method() == TrainingOptions.Method.RM;
        if (rewardModel != policy.config().sequenceClassification()) {
            throw new IllegalArgumentException(rewardModel ? "reward modelling trains a model with a score head; convert it with toRewardModel"
                    : options.method() + " trains a causal language model, not a " + policy.config().architecture());
        }
        boolean needsReference = options.method() == TrainingOptions.Method.DPO || options.method() == TrainingOptions.Method.KTO;
        if (needsReference && options.lora() == null && reference == null) {
            throw new IllegalArgumentException("full fine-tuning with " + options.method() + " needs a reference model");
        }
        this.policy = policy;
        this.tokenizer = tokenizer;
        this.reference = reference;
        this.options = options;
        Engine.getInstance().setRandomSeed((int) options.seed());
        this.adapter = resumed != null ? resumed : options.lora() == null ? null : LoraAdapter.attach(policy, options.lora(), options.seed());
        Map<String, NDArray> trainable = new LinkedHashMap<>(adapter == null ? policy.parameters() : adapter.parameters());
        if (rewardModel) {
            trainable.put("score.weight", policy.parameters().get("score.weight"));  // the head always trains, as PEFT's modules_to_save
        }
        this.adam = new AdamW(trainable, options.adam());
    }

    public LoraAdapter adapter() {
        return adapter;
    }

    /** Runs the configured epochs or steps over {@code rows}, reporting each optimizer step. */
    public List<Step> train(List<Row> rows, Consumer<Step> onStep) {
        List<Encoded> encoded = rows.stream().map(this::encode).toList();
        KtoLoss.Config kto = ktoConfig(encoded);
        int minBatch = options.method() == TrainingOptions.Method.KTO ? 2 : 1;
        int batchesPerEpoch = encoded.size() / options.batchSize() + (encoded.size() % options.batchSize() >= minBatch ? 1 : 0);
        if (batchesPerEpoch == 0) {
            throw new IllegalArgumentException("the dataset has " + encoded.size() + " rows, too few for one batch");
        }
        int total = options.maxSteps() > 0 ? options.maxSteps()
                : (int) Math.ceil((double) options.epochs() * batchesPerEpoch / options.gradientAccumulationSteps());
        LearningRateSchedule schedule = new LearningRateSchedule(options.learningRate(),
                (int) Math.round(options.warmupRatio() * total), total, options.schedule());
        List<Step> steps = new ArrayList<>();
        Map<String, Double> sums = new LinkedHashMap<>();
        int micro = 0;
        if (adapter != null) {
            adapter.setTraining(true);
        }
        try {
            for (int epoch = 0; steps.size() < total; epoch++) {
                List<Encoded> order = new ArrayList<>(encoded);
                if (options.shuffle()) {
                    Collections.shuffle(order, new Random(options.seed() + epoch));
                }
                for (int b = 0; b < batchesPerEpoch && steps.size() < total; b++) {
                    List<Encoded> batch = order.subList(b * options.batchSize(), Math.min(order.size(), (b + 1) * options.batchSize()));
                    accumulate(sums, backward(batch, kto));
                    if (++micro % options.gradientAccumulationSteps() == 0 || (b == batchesPerEpoch - 1 && steps.size() == total - 1)) {
                        int n = (micro - 1) % options.gradientAccumulationSteps() + 1;
                        double lr = schedule.at(steps.size());
                        Map<String, Double> metrics = new LinkedHashMap<>();
                        sums.forEach((k, v) -> metrics.put(k, v / n));
                        metrics.put("grad_norm", adam.step(lr));
                        metrics.put("learning_rate", lr);
                        sums.clear();
                        micro = 0;
                        Step step = new Step(steps.size() + 1, total, epoch + (b + 1.0) / batchesPerEpoch, metrics);
                        steps.add(step);
                        onStep.accept(step);
                    }
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
     * One KTO step on {@code batch} at the configured (constant) learning rate, as the streaming job
     * runs it, behind three guards: a non-finite loss or gradient norm, or an exact per-token KL of
     * the updated policy from the reference on the batch above {@code klBudget}, drops the step.
     */
    public OnlineStep step(List<Row> batch, KtoLoss.Config weights, double klBudget) {
        List<Encoded> encoded = batch.stream().map(this::encode).toList();
        AdamW.State before = adam.state();
        Map<String, Double> metrics;
        adapter.setTraining(true);
        try {
            metrics = new LinkedHashMap<>(backward(encoded, weights));
            metrics.put("grad_norm", adam.step(options.learningRate()));
        } catch (NonFiniteLossException e) {
            return new OnlineStep(e.metrics(), NON_FINITE_LOSS);
        } catch (NonFiniteGradientException e) {
            return new OnlineStep(Map.of("grad_norm", Double.NaN), NON_FINITE_GRADIENT);
        } finally {
            adapter.setTraining(false);
        }
        double kl = klToReference(encoded);
        metrics.put("kl_to_reference", kl);
        if (!(kl <= klBudget)) {
            adam.restore(before);
            return new OnlineStep(metrics, KL_OVER_BUDGET);
        }
        return new OnlineStep(metrics, null);
    }

    private double klToReference(List<Encoded> batch) {
        PaddedBatch padded = PaddedBatch.of(batch.stream().map(e -> sequence(e.prompt(), e.completion())).toList());
        int t = padded.ids()[0].length;
        try (NoGrad noGrad = NoGrad.enter(); NDScope scope = new NDScope(); NDManager m = policy.manager().newSubManager()) {
            NDArray ids = m.create(padded.ids());
            NDArray attention = m.create(padded.attention());
            String predicting = ":, :" + (t - 1) + ", :";
            NDArray policyLogits = policy.forward(ids, attention, null).get(predicting);
            NDArray referenceLogits;
            try (LoraAdapter.Scope off = adapter.disabled()) {
                referenceLogits = policy.forward(ids, attention, null).get(predicting);
            }
            return TokenKl.mean(policyLogits, referenceLogits, m.create(padded.completionMask())).getFloat();
        }
    }

    private Map<String, Double> backward(List<Encoded> batch, KtoLoss.Config kto) {
        try (GradientLease lease = GradientLease.acquire();
             GradientCollector collector = Engine.getInstance().newGradientCollector();
             NDScope scope = new NDScope();
             NDManager m = policy.manager().newSubManager()) {
            LossOutput out = switch (options.method()) {
                case SFT -> sft(batch, m);
                case DPO -> dpo(batch, m);
                case KTO -> kto(batch, kto, m);
                case RM -> reward(batch, m);
            };
            double loss = out.loss().getFloat();
            if (!Double.isFinite(loss)) {
                throw new NonFiniteLossException(out.metrics());
            }
            collector.backward(out.loss().div(Scalar.of(out.loss(), options.gradientAccumulationSteps())));
            return out.metrics();
        }
    }

    private LossOutput sft(List<Encoded> batch, NDManager m) {
        PaddedBatch padded = PaddedBatch.of(batch.stream().map(e -> sequence(e.prompt(), e.completion())).toList());
        return SftLoss.compute(padded.tokenLogProbs(policy, m), m.create(padded.completionMask()));
    }

    private LossOutput dpo(List<Encoded> batch, NDManager m) {
        List<Scorer.Sequence> seqs = new ArrayList<>();
        batch.forEach(e -> seqs.add(sequence(e.prompt(), e.completion())));
        batch.forEach(e -> seqs.add(sequence(e.prompt(), e.rejected())));
        PaddedBatch padded = PaddedBatch.of(seqs);
        NDArray policySums = padded.completionSums(policy, m);
        NDArray refSums = referenceSums(padded, m);
        if (options.dpoLoss() == DpoLoss.Type.IPO) {
            NDArray tokens = m.create(padded.completionTokens());
            policySums = policySums.div(tokens);
            refSums = refSums.div(tokens);
        }
        long n = batch.size();
        return DpoLoss.compute(policySums.get(":" + n), policySums.get(n + ":"), refSums.get(":" + n), refSums.get(n + ":"),
                options.dpoLoss(), options.beta(), options.labelSmoothing());
    }

    private LossOutput reward(List<Encoded> batch, NDManager m) {
        List<Scorer.Sequence> seqs = new ArrayList<>();
        batch.forEach(e -> seqs.add(sequence(e.prompt(), e.completion())));
        batch.forEach(e -> seqs.add(sequence(e.prompt(), e.rejected())));
        PaddedBatch padded = PaddedBatch.of(seqs);
        NDArray rewards = policy.rewards(m.create(padded.ids()), m.create(padded.attention())).reshape(-1);
        long n = batch.size();
        NDArray margin = batch.stream().anyMatch(e -> e.margin() != null) ? m.create(marginsOf(batch)) : null;
        return RewardLoss.compute(rewards.get(":" + n), rewards.get(n + ":"), margin, options.centerRewardsCoefficient());
    }

    private static float[] marginsOf(List<Encoded> batch) {
        float[] margins = new float[batch.size()];
        for (int i = 0; i < margins.length; i++) {
            margins[i] = batch.get(i).margin() == null ? 0 : batch.get(i).margin().floatValue();
        }
        return margins;
    }

    private LossOutput kto(List<Encoded> batch, KtoLoss.Config config, NDManager m) {
        int n = batch.size();
        List<Scorer.Sequence> seqs = new ArrayList<>();
        List<Scorer.Sequence> mismatched = new ArrayList<>();
        float[] desirable = new float[n];
        for (int i = 0; i < n; i++) {
            Encoded e = batch.get(i);
            seqs.add(sequence(e.prompt(), e.completion()));
            mismatched.add(sequence(e.prompt(), batch.get(KtoLoss.mismatchedPartner(i, n)).completion()));
            desirable[i] = e.desirable() ? 1 : 0;
        }
        PaddedBatch own = PaddedBatch.of(seqs);
        PaddedBatch pairs = PaddedBatch.of(mismatched);
        NDArray policySums = own.completionSums(policy, m);
        NDArray policyKl;
        try (NoGrad noGrad = NoGrad.enter()) {
            policyKl = pairs.completionSums(policy, m);
        }
        return KtoLoss.compute(policySums, referenceSums(own, m), policyKl, referenceSums(pairs, m), m.create(desirable), config);
    }

    private NDArray referenceSums(PaddedBatch batch, NDManager m) {
        try (NoGrad noGrad = NoGrad.enter()) {
            if (reference != null) {
                return batch.completionSums(reference, m);
            }
            try (LoraAdapter.Scope off = adapter.disabled()) {
                return batch.completionSums(policy, m);
            }
        }
    }

    private KtoLoss.Config ktoConfig(List<Encoded> encoded) {
        KtoLoss.Config base = new KtoLoss.Config(options.ktoLoss(), options.beta(), 1, 1);
        if (options.desirableWeight() != null || options.undesirableWeight() != null) {
            return new KtoLoss.Config(options.ktoLoss(), options.beta(),
                    options.desirableWeight() == null ? 1 : options.desirableWeight(),
                    options.undesirableWeight() == null ? 1 : options.undesirableWeight());
        }
        long desirable = encoded.stream().filter(Encoded::desirable).count();
        return KtoLoss.weighted(base, desirable, encoded.size() - desirable);
    }

    private Encoded encode(Row row) {
        int[] prompt = tokenizer.encodePrompt(row.prompt());
        if (row instanceof Row.Sft s) {
            return new Encoded(prompt, tokenizer.encodeCompletion(s.completion()), null, true, null);
        }
        if (row instanceof Row.Unpaired u) {
            return new Encoded(prompt, tokenizer.encodeCompletion(u.completion()), null, u.desirable(), null);
        }
        if (!(row instanceof Row.Preference p)) {
            throw new IllegalArgumentException(options.method() + " trains on completions; a prompt alone is PPO's");
        }
        return new Encoded(prompt, tokenizer.encodeCompletion(p.chosen()), tokenizer.encodeCompletion(p.rejected()), true, p.margin());
    }

    /** Prompt then completion, cut to max length: the completion keeps its start, the prompt its end. */
    private Scorer.Sequence sequence(int[] prompt, int[] completion) {
        int max = options.maxLength();
        int[] c = completion.length > max - 1 ? Arrays.copyOf(completion, max - 1) : completion;
        int[] p = prompt.length + c.length > max ? Arrays.copyOfRange(prompt, prompt.length - (max - c.length), prompt.length) : prompt;
        int[] ids = Arrays.copyOf(p, p.length + c.length);
        System.arraycopy(c, 0, ids, p.length, c.length);
        return new Scorer.Sequence(ids, Math.max(1, p.length));
    }

    private static void accumulate(Map<String, Double> sums, Map<String, Double> metrics) {
        metrics.forEach((k, v) -> sums.merge(k, v, Double::sum));
    }

    /**
     * Writes the result: a PEFT adapter directory with LoRA, else a full Hugging Face model
     * directory with the base's tokenizer files. A reward model is always written whole, its
     * adapter merged, so it loads as a *ForSequenceClassification.
     */
    public void save(Path out, Path baseDir) throws IOException {
        if (adapter != null && !policy.config().sequenceClassification()) {
            adapter.save(out, baseDir.toString());
            return;
        }
        ModelWeights.write(out, adapter == null ? policy.tensors() : adapter.mergedTensors(), ModelWeights.DEFAULT_SHARD_BYTES);
        policy.config().write(out.resolve("config.json"));
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
