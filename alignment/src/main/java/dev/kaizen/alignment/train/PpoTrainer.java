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

import dev.kaizen.alignment.generate.Generator;
import dev.kaizen.alignment.generate.SamplingParams;
import dev.kaizen.alignment.loss.Gae;
import dev.kaizen.alignment.loss.LossOutput;
import dev.kaizen.alignment.loss.PerTokenReward;
import dev.kaizen.alignment.loss.PpoLoss;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LlamaForSequenceClassification;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.model.NoGrad;
import dev.kaizen.alignment.model.Scalar;
import dev.kaizen.alignment.score.PaddedBatch;
import dev.kaizen.alignment.score.Scorer;
import dev.kaizen.alignment.score.TokenLogProbs;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.alignment.tokenize.Prompt;
import dev.kaizen.alignment.tokenize.TokenizerFiles;
import dev.kaizen.alignment.weights.ModelWeights;

/**
 * PPO with a learned reward model, as TRL's PPOTrainer runs it: each step samples responses to a
 * batch of prompts with the policy (KV-cached generation), scores each with the reward model,
 * charges every token −λ·KL to the reference ({@link PerTokenReward}), estimates advantages with
 * GAE on the value model's per-token values, whitens them, and runs several epochs of the clipped
 * surrogate and clipped value loss ({@link PpoLoss}) over minibatches. With LoRA the policy trains
 * an adapter and the reference is the policy with it off, and the value model (a copy of the
 * reward model, as TRL starts it) trains an adapter and its score head; without, both train whole.
 */
public final class PpoTrainer implements AutoCloseable {

    /**
     * {@code batchSize} responses per step, {@code totalEpisodes} responses in all; λ adapts toward
     * {@code targetKl} (nats per response) when it is set, else stays {@code klCoef}. Built as
     * {@link TrainingOptions} is, from TRL's PPOConfig defaults.
     */
    public record Options(int batchSize, int miniBatches, int ppoEpochs, int totalEpisodes, double learningRate, double klCoef,
                          PerTokenReward.KlEstimator klEstimator, Double targetKl, double klHorizon, PpoLoss.Clip clip, double gamma,
                          double lambda, double temperature, int maxNewTokens, Double missingEosPenalty, LoraAdapter.Config lora,
                          long seed) {
        public Options {
            if (batchSize < 2 || miniBatches < 1 || batchSize % miniBatches != 0 || ppoEpochs < 1 || totalEpisodes < batchSize) {
                throw new IllegalArgumentException("PPO needs a batch of at least 2 responses that splits into whole minibatches, "
                        + "at least one epoch, and at least one batch of episodes; got batch " + batchSize + ", minibatches "
                        + miniBatches + ", epochs " + ppoEpochs + ", episodes " + totalEpisodes);
            }
            if (!(temperature > 0)) {
                throw new IllegalArgumentException("PPO samples its responses: the temperature must be positive, not " + temperature);
            }
        }

        /** PPOConfig's defaults (a batch of 8, 4 epochs, λ 0.05 with k1, lr 3e-6, 53 new tokens), LoRA r=16, alpha=32. */
        public static Builder builder() {
            return new Builder();
        }

        /** Fluent construction from the defaults; each setter names the PPOConfig option it mirrors. */
        public static final class Builder {
            private int batchSize = 8;
            private int miniBatches = 1;
            private int ppoEpochs = 4;
            private int totalEpisodes = -1;
            private double learningRate = 3e-6;
            private double klCoef = 0.05;
            private PerTokenReward.KlEstimator klEstimator = PerTokenReward.KlEstimator.K1;
            private Double targetKl;
            private double klHorizon = 10_000;
            private PpoLoss.Clip clip = new PpoLoss.Clip(0.2, 0.2, 0.1);
            private double gamma = 1.0;
            private double lambda = 0.95;
            private double temperature = 0.7;
            private int maxNewTokens = 53;
            private Double missingEosPenalty;
            private LoraAdapter.Config lora = new LoraAdapter.Config(16, 32, 0.05, LoraAdapter.ALL_TARGETS);
            private long seed = 42;

            private Builder() {}

            public Builder batchSize(int v) { batchSize = v; return this; }
            public Builder numMiniBatches(int v) { miniBatches = v; return this; }
            public Builder numPpoEpochs(int v) { ppoEpochs = v; return this; }
            /** Default: one batch. */
            public Builder totalEpisodes(int v) { totalEpisodes = v; return this; }
            public Builder learningRate(double v) { learningRate = v; return this; }
            public Builder klCoef(double v) { klCoef = v; return this; }
            public Builder klEstimator(PerTokenReward.KlEstimator v) { klEstimator = v; return this; }
            /** null: a fixed λ. */
            public Builder targetKl(Double v) { targetKl = v; return this; }
            public Builder klHorizon(double v) { klHorizon = v; return this; }
            /** cliprange, cliprange_value and vf_coef. */
            public Builder clip(PpoLoss.Clip v) { clip = v; return this; }
            public Builder gamma(double v) { gamma = v; return this; }
            public Builder lam(double v) { lambda = v; return this; }
            public Builder temperature(double v) { temperature = v; return this; }
            public Builder responseLength(int v) { maxNewTokens = v; return this; }
            public Builder missingEosPenalty(Double v) { missingEosPenalty = v; return this; }
            /** null: full fine-tuning. */
            public Builder lora(LoraAdapter.Config v) { lora = v; return this; }
            public Builder seed(long v) { seed = v; return this; }

            public Options build() {
                return new Options(batchSize, miniBatches, ppoEpochs, totalEpisodes < 0 ? batchSize : totalEpisodes, learningRate, klCoef,
                        klEstimator, targetKl, klHorizon, clip, gamma, lambda, temperature, maxNewTokens, missingEosPenalty, lora, seed);
            }
        }
    }

    /** One PPO step (a batch of rollouts and its updates), its metrics under TRL's names. */
    public record Step(int step, int totalSteps, long episode, Map<String, Double> metrics) {}

    private record Rollout(int[] prompt, int[] response, boolean endedWithEos) {}

    /** A scored batch, [B][T−1] per position; only the response tokens that {@code mask} marks count in the loss. */
    private record Batch(PaddedBatch padded, float[][] logprobs, float[][] values, float[][] advantages, float[][] returns,
                         float[][] mask, Map<String, Double> metrics) {}

    private final LlamaForCausalLM policy;
    private final LlamaForCausalLM reference;
    private final LlamaForSequenceClassification valueModel;
    private final LlamaForSequenceClassification rewardModel;
    private final Options options;
    private final LoraAdapter policyAdapter;
    private final LoraAdapter valueAdapter;
    private final AdamW policyAdam;
    private final AdamW valueAdam;
    private final KlController kl;
    private final ChatTokenizer tokenizer;
    private final Generator generator;
    private final int eos;

    /** {@code reference} is null with LoRA (the adapter switched off is the reference). */
    public PpoTrainer(LlamaForCausalLM policy, LlamaForCausalLM reference, LlamaForSequenceClassification valueModel,
                      LlamaForSequenceClassification rewardModel, ChatTokenizer tokenizer, Options options) {
        if (options.lora() == null && reference == null) {
            throw new IllegalArgumentException("full fine-tuning with PPO needs a reference model");
        }
        Integer eosId = tokenizer.specialTokenId("eos_token");
        if (eosId == null) {
            throw new IllegalArgumentException("PPO needs the tokenizer's eos_token to tell where a response ends");
        }
        this.policy = policy;
        this.reference = reference;
        this.valueModel = valueModel;
        this.rewardModel = rewardModel;
        this.tokenizer = tokenizer;
        this.options = options;
        this.eos = eosId;
        Engine.getInstance().setRandomSeed((int) options.seed());
        policyAdapter = options.lora() == null ? null : LoraAdapter.attach(policy, options.lora(), options.seed());
        valueAdapter = options.lora() == null ? null : LoraAdapter.attach(valueModel, options.lora(), options.seed() + 1);
        policyAdam = new AdamW(policyAdapter == null ? policy.parameters() : policyAdapter.parameters(), AdamW.Config.defaults());
        Map<String, NDArray> valueTrainable = new LinkedHashMap<>(valueAdapter == null ? valueModel.parameters() : valueAdapter.parameters());
        valueTrainable.put("score.weight", valueModel.parameters().get("score.weight"));
        valueAdam = new AdamW(valueTrainable, AdamW.Config.defaults());
        kl = options.targetKl() == null ? KlController.fixed(options.klCoef())
                : KlController.adaptive(options.klCoef(), options.targetKl(), options.klHorizon());
        generator = new Generator(policy, tokenizer);
    }

    public LoraAdapter adapter() {
        return policyAdapter;
    }

    /** Runs {@code totalEpisodes / batchSize} steps over {@code prompts}, drawn in shuffled passes. */
    public List<Step> train(List<Prompt> prompts, Consumer<Step> onStep) {
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException("PPO needs at least one prompt to answer");
        }
        int total = options.totalEpisodes() / options.batchSize();
        int updatesPerStep = options.ppoEpochs() * options.miniBatches();
        LearningRateSchedule schedule = new LearningRateSchedule(options.learningRate(), 0, total * updatesPerStep,
                LearningRateSchedule.Decay.LINEAR);
        Random random = new Random(options.seed());
        List<int[]> encoded = prompts.stream().map(tokenizer::encodePrompt).toList();
        List<int[]> order = new ArrayList<>();
        List<Step> steps = new ArrayList<>();
        int updates = 0;
        for (int s = 0; s < total; s++) {
            List<Rollout> rollouts = new ArrayList<>();
            while (rollouts.size() < options.batchSize()) {
                if (order.isEmpty()) {
                    order.addAll(encoded);
                    Collections.shuffle(order, random);
                }
                rollouts.add(rollout(order.remove(order.size() - 1), random.nextLong()));
            }
            Batch batch = score(rollouts);
            Map<String, Double> sums = new LinkedHashMap<>();
            int size = options.batchSize() / options.miniBatches();
            for (int epoch = 0; epoch < options.ppoEpochs(); epoch++) {
                List<Integer> permutation = new ArrayList<>();
                for (int i = 0; i < options.batchSize(); i++) {
                    permutation.add(i);
                }
                Collections.shuffle(permutation, random);
                for (int mb = 0; mb < options.miniBatches(); mb++) {
                    int[] rows = permutation.subList(mb * size, (mb + 1) * size).stream().mapToInt(Integer::intValue).toArray();
                    update(batch, rows, schedule.at(updates++)).forEach((k, v) -> sums.merge(k, v, Double::sum));
                }
            }
            Map<String, Double> metrics = new LinkedHashMap<>(batch.metrics());
            sums.forEach((k, v) -> metrics.put(k, v / updatesPerStep));
            metrics.put("lr", schedule.at(updates - 1));
            metrics.put("kl_coef", kl.value());
            kl.update(batch.metrics().get("objective/kl"), options.batchSize());
            Step step = new Step(s + 1, total, (long) (s + 1) * options.batchSize(), metrics);
            steps.add(step);
            onStep.accept(step);
        }
        return steps;
    }

    /** A response sampled by the current policy; it ends with the eos token when the policy ended it. */
    private Rollout rollout(int[] prompt, long seed) {
        SamplingParams params = new SamplingParams(options.maxNewTokens(), options.temperature(), 0, 1.0, seed, List.of(), true);
        Generator.Generation g = generator.generate(prompt, params, null);
        boolean ended = g.finishReason() == Generator.FinishReason.STOP;
        int[] response = ended ? Arrays.copyOf(g.ids(), g.ids().length + 1) : g.ids();
        if (ended) {
            response[response.length - 1] = eos;
        }
        return new Rollout(prompt, response, ended);
    }

    /** Log-probs, reference log-probs, values and scores without gradients, then rewards, GAE and whitening. */
    private Batch score(List<Rollout> rollouts) {
        PaddedBatch padded = PaddedBatch.of(rollouts.stream().map(r -> {
            int[] ids = Arrays.copyOf(r.prompt(), r.prompt().length + r.response().length);
            System.arraycopy(r.response(), 0, ids, r.prompt().length, r.response().length);
            return new Scorer.Sequence(ids, r.prompt().length);
        }).toList());
        int b = rollouts.size();
        int t = padded.ids()[0].length - 1;
        float[][] logprobs;
        float[][] refLogprobs;
        float[][] values;
        float[] scores;
        try (NoGrad noGrad = NoGrad.enter(); NDScope scope = new NDScope(); NDManager m = policy.manager().newSubManager()) {
            NDArray ids = m.create(padded.ids());
            NDArray attention = m.create(padded.attention());
            logprobs = rows(logProbs(policy, ids, attention), b, t);
            if (reference != null) {
                refLogprobs = rows(logProbs(reference, ids, attention), b, t);
            } else {
                try (LoraAdapter.Scope off = policyAdapter.disabled()) {
                    refLogprobs = rows(logProbs(policy, ids, attention), b, t);
                }
            }
            values = rows(valueModel.tokenScores(ids, attention).get(":, :" + t), b, t);
            scores = rewardModel.rewards(ids, attention).reshape(-1).toFloatArray();
        }
        float[][] advantages = new float[b][];
        float[][] returns = new float[b][];
        double klSum = 0;
        double nonScore = 0;
        double scoreSum = 0;
        double entropy = 0;
        int eosCount = 0;
        for (int i = 0; i < b; i++) {
            Rollout r = rollouts.get(i);
            int from = r.prompt().length - 1;
            int to = from + r.response().length;
            double score = scores[i] - (!r.endedWithEos() && options.missingEosPenalty() != null ? options.missingEosPenalty() : 0);
            float[] lp = Arrays.copyOfRange(logprobs[i], from, to);
            PerTokenReward.Rewards rewards = PerTokenReward.of(lp, Arrays.copyOfRange(refLogprobs[i], from, to), score, kl.value(),
                    options.klEstimator());
            Gae.Estimate gae = Gae.of(rewards.rewards(), Arrays.copyOfRange(values[i], from, to), options.gamma(), options.lambda());
            advantages[i] = gae.advantages();
            returns[i] = gae.returns();
            double responseKl = sum(rewards.kl());
            klSum += responseKl;
            nonScore -= kl.value() * responseKl;
            entropy -= sum(lp);
            scoreSum += score;
            eosCount += r.endedWithEos() ? 1 : 0;
        }
        float[][] whitened = Gae.whiten(advantages);
        float[][] mask = padded.completionMask();
        Map<String, Double> metrics = new LinkedHashMap<>();
        metrics.put("objective/kl", klSum / b);
        metrics.put("objective/entropy", entropy / b);
        metrics.put("objective/non_score_reward", nonScore / b);
        metrics.put("objective/rlhf_reward", (scoreSum + nonScore) / b);
        metrics.put("objective/scores", scoreSum / b);
        metrics.put("val/num_eos_tokens", (double) eosCount);
        return new Batch(padded, logprobs, values, place(whitened, rollouts, t), place(returns, rollouts, t), mask, metrics);
    }

    /** One clipped update of policy and value model on the minibatch {@code rows}. */
    private Map<String, Double> update(Batch batch, int[] rows, double lr) {
        int t = batch.mask()[0].length;
        Map<String, Double> metrics;
        try (GradientLease lease = GradientLease.acquire();
             GradientCollector collector = Engine.getInstance().newGradientCollector();
             NDScope scope = new NDScope();
             NDManager m = policy.manager().newSubManager()) {
            NDArray ids = m.create(pick(batch.padded().ids(), rows));
            NDArray attention = m.create(pick(batch.padded().attention(), rows));
            LossOutput out = PpoLoss.compute(logProbs(policy, ids, attention), m.create(pick(batch.logprobs(), rows)),
                    m.create(pick(batch.advantages(), rows)), valueModel.tokenScores(ids, attention).get(":, :" + t),
                    m.create(pick(batch.values(), rows)), m.create(pick(batch.returns(), rows)), m.create(pick(batch.mask(), rows)),
                    options.clip());
            if (!Double.isFinite(out.metrics().get("loss"))) {
                throw new NonFiniteLossException(out.metrics());
            }
            collector.backward(out.loss());
            metrics = new LinkedHashMap<>(out.metrics());
        }
        metrics.put("policy/grad_norm", policyAdam.step(lr));
        metrics.put("val/grad_norm", valueAdam.step(lr));
        return metrics;
    }

    /** Per-token log-probs [B, T−1] at the sampling temperature, as TRL scores its rollouts. */
    private NDArray logProbs(LlamaForCausalLM model, NDArray ids, NDArray attention) {
        NDArray logits = model.forward(ids, attention, null);
        return TokenLogProbs.of(logits.div(Scalar.of(logits, options.temperature())), ids);
    }

    private static float[][] rows(NDArray x, int b, int t) {
        float[] flat = x.toFloatArray();
        float[][] out = new float[b][];
        for (int i = 0; i < b; i++) {
            out[i] = Arrays.copyOfRange(flat, i * t, (i + 1) * t);
        }
        return out;
    }

    /** Each row's per-response-token values at the positions that predict its response. */
    private static float[][] place(float[][] perToken, List<Rollout> rollouts, int t) {
        float[][] out = new float[perToken.length][t];
        for (int i = 0; i < perToken.length; i++) {
            System.arraycopy(perToken[i], 0, out[i], rollouts.get(i).prompt().length - 1, perToken[i].length);
        }
        return out;
    }

    private static <T> T[] pick(T[] rows, int[] indices) {
        T[] out = Arrays.copyOf(rows, indices.length);
        for (int i = 0; i < indices.length; i++) {
            out[i] = rows[indices[i]];
        }
        return out;
    }

    private static double sum(float[] x) {
        double s = 0;
        for (float v : x) {
            s += v;
        }
        return s;
    }

    /** Writes the policy: a PEFT adapter directory with LoRA, else a full model directory with the base's tokenizer files. */
    public void save(Path out, Path baseDir) throws IOException {
        if (policyAdapter != null) {
            policyAdapter.save(out, baseDir.toString());
            return;
        }
        ModelWeights.write(out, policy.tensors(), ModelWeights.DEFAULT_SHARD_BYTES);
        policy.config().write(out.resolve("config.json"));
        TokenizerFiles.copy(baseDir, out);
    }

    @Override
    public void close() {
        policyAdam.close();
        valueAdam.close();
        if (policyAdapter != null) {
            policyAdapter.close();
        }
        if (valueAdapter != null) {
            valueAdapter.close();
        }
    }
}
