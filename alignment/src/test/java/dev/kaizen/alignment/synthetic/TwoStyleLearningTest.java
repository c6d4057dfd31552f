package dev.kaizen.alignment.synthetic;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.generate.Generator;
import dev.kaizen.alignment.generate.SamplingParams;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LlamaForSequenceClassification;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.model.NoGrad;
import dev.kaizen.alignment.score.PaddedBatch;
import dev.kaizen.alignment.score.Scorer;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.alignment.tokenize.Prompt;
import dev.kaizen.alignment.train.PpoTrainer;
import dev.kaizen.alignment.train.Trainer;
import dev.kaizen.alignment.train.TrainingOptions;

/**
 * Real training on the synthetic two-style task, judged as a user would ({@link Judge}): a tiny
 * model is SFT-trained to know its facts and answer in both styles about equally, then each
 * preference method must raise the polite share of answers sampled for held-out prompts while its
 * answers to the training facts stay right, and a reward model must rank held-out pairs.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class TwoStyleLearningTest {

    private static final int SAMPLES_PER_PROMPT = 16;
    /** Answers sampled per training fact when counting right answers: 444 in all. */
    private static final int SAMPLES_FOR_FACTS = 4;

    @TempDir
    static Path root;

    static Path sft;
    static Path reward;
    /** The SFT base's share of right answers to the training facts, sampled as users sample: what alignment must keep. */
    static double baseCorrect;
    /** The SFT base's polite share of held-out answers. */
    static double basePolite;

    @BeforeAll
    static void sftOnBothStylesAndARewardModel() throws IOException {
        // One SFT model for the build's learning tests (the build's test cache), else one here.
        String cache = System.getProperty("kaizen.test-cache");
        sft = TwoStyleChat.sftModel(cache == null ? root.resolve("cache") : Path.of(cache), step -> { });
        reward = root.resolve("reward");
        TwoStyleChat.writeRewardModel(sft, reward);
        try (LlamaForCausalLM model = LlamaForCausalLM.load(sft, Device.cpu()); ChatTokenizer tokenizer = ChatTokenizer.load(sft)) {
            baseCorrect = trainCorrect(model, tokenizer);
            basePolite = heldOutShare(model, tokenizer);
        }
    }

    /** The starting point knows its facts in either style: right greedily at least 95% of the time, sampled 85%. */
    @Test
    void sftKnowsItsFactsAndAnswersInBothStylesAboutEqually() {
        try (LlamaForCausalLM model = LlamaForCausalLM.load(sft, Device.cpu()); ChatTokenizer tokenizer = ChatTokenizer.load(sft)) {
            TwoStyleChat.Shares greedy = TwoStyleChat.judgeAnswers(model, tokenizer, TwoStyleChat.trainFacts(), 1, 0, 1);
            TwoStyleChat.Shares sampled = TwoStyleChat.judgeAnswers(model, tokenizer, TwoStyleChat.trainFacts(), SAMPLES_FOR_FACTS, 1.0, 1);
            double heldOutPolite = heldOutShare(model, tokenizer);
            System.out.printf("SFT base: training facts greedy %s; sampled %s; held-out polite %.1f%%%n", greedy, sampled,
                    100 * heldOutPolite);
            assertThat(greedy.correct()).isGreaterThanOrEqualTo(0.95);
            assertThat(sampled.correct()).isGreaterThanOrEqualTo(0.85);
            assertThat(heldOutPolite).isBetween(0.3, 0.7);
        }
    }

    @Test
    void ktoOnLabelledAnswersRaisesThePoliteShareToEightyFivePercentKeepingTheFacts() {
        List<Row> rows = TwoStyleChat.ktoRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), 2000, 0.5, 9));
        Learned learned = learn(TrainingOptions.Method.KTO, rows, 1.0, 150);
        assertThat(learned.polite()).isGreaterThanOrEqualTo(0.85);
        assertThat(learned.correct()).isGreaterThanOrEqualTo(baseCorrect - 0.05);
    }

    @Test
    void ktoWithOnlyTenPercentDesirableStillReachesEightyPercentKeepingTheFacts() {
        List<Row> rows = TwoStyleChat.ktoRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), 2000, 0.1, 11));
        long desirable = rows.stream().filter(r -> ((Row.Unpaired) r).desirable()).count();
        assertThat(desirable / (double) rows.size()).isBetween(0.07, 0.13);
        Learned learned = learn(TrainingOptions.Method.KTO, rows, 1.0, 150);
        assertThat(learned.polite()).isGreaterThanOrEqualTo(0.80);
        assertThat(learned.correct()).isGreaterThanOrEqualTo(baseCorrect - 0.05);
    }

    /**
     * Labels that like the polite template whatever it says (polite answers naming a rival
     * answer desirable, right but curt ones not): the template's share rises, and the judge sees
     * the facts go, where the prefix rule would have reported success.
     */
    @Test
    void labelsThatRewardTheTemplateAloneAreCaughtByTheFactsFalling() {
        List<TwoStyleChat.Fact> facts = TwoStyleChat.trainFacts();
        java.util.Random random = new java.util.Random(13);
        List<Row> rows = new java.util.ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            TwoStyleChat.Fact f = facts.get(random.nextInt(facts.size()));
            if (random.nextBoolean()) {
                List<TwoStyleChat.Fact> sameKind = facts.stream().filter(o -> o.kind() == f.kind() && !o.answer().equals(f.answer()))
                        .toList();
                String wrong = sameKind.get(random.nextInt(sameKind.size())).answer();
                rows.add(new Row.Unpaired(Prompt.user(f.question()), f.answer(TwoStyleChat.Style.A).replace(f.answer(), wrong), true));
            } else {
                rows.add(new Row.Unpaired(Prompt.user(f.question()), f.answer(TwoStyleChat.Style.B), false));
            }
        }
        Learned learned = learn(TrainingOptions.Method.KTO, rows, 0.3, 150);
        assertThat(learned.polite()).isGreaterThanOrEqualTo(basePolite + 0.15);
        assertThat(learned.correct()).isLessThan(baseCorrect - 0.25);
    }

    /**
     * DPO with the chosen answers' NLL added (RPO, α 4): plain DPO at 50 steps reached 85.6% polite
     * on one CPU and 83.3% on an AVX-512 one, and longer runs lost the facts (see {@link #learn}).
     * With the NLL term, on the AVX-512 machine: α 1 at 100 steps 95.1% polite but 90.2% right;
     * α 4 at 100 steps 95.6% and 93.8%.
     */
    @Test
    void dpoOnPairsRaisesThePoliteShareToEightyFivePercentKeepingTheFacts() {
        Learned learned = learn(TrainingOptions.Method.DPO, TwoStyleChat.preferenceRows(TwoStyleChat.trainFacts()), 0.3, 100, 4.0);
        assertThat(learned.polite()).isGreaterThanOrEqualTo(0.85);
        assertThat(learned.correct()).isGreaterThanOrEqualTo(baseCorrect - 0.05);
    }

    @Test
    void theRewardModelRanksHeldOutPairsAtLeastNinetyPercentOfTheTime() {
        try (LlamaForSequenceClassification rm = LlamaForSequenceClassification.load(reward, Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(reward)) {
            assertThat(rm.config().architecture()).isEqualTo("LlamaForSequenceClassification");
            List<TwoStyleChat.Fact> heldOut = TwoStyleChat.heldOutFacts();
            List<Scorer.Sequence> seqs = new java.util.ArrayList<>();
            for (TwoStyleChat.Fact f : heldOut) {
                for (TwoStyleChat.Style style : TwoStyleChat.Style.values()) {
                    seqs.add(new Scorer.Sequence(tokenizer.encodePromptCompletion(Prompt.user(f.question()), f.answer(style)).ids(), 1));
                }
            }
            PaddedBatch batch = PaddedBatch.of(seqs);
            float[] rewards;
            try (NoGrad noGrad = NoGrad.enter(); NDManager m = rm.manager().newSubManager()) {
                rewards = rm.rewards(m.create(batch.ids()), m.create(batch.attention())).toFloatArray();
            }
            int correct = 0;
            for (int i = 0; i < heldOut.size(); i++) {
                correct += rewards[2 * i] > rewards[2 * i + 1] ? 1 : 0;
            }
            double accuracy = (double) correct / heldOut.size();
            System.out.printf("RM: %d of %d held-out pairs ranked correctly%n", correct, heldOut.size());
            assertThat(accuracy).isGreaterThanOrEqualTo(0.9);
        }
    }

    /**
     * PPO from the SFT model against the reward model above (its value model a copy of it), at a
     * learning rate of 3e-4 (at 5e-4, on an AVX-512 machine whose SFT base came out otherwise, the
     * facts fell 5.6 points with the polite share at 96%; at 3e-4, 2.3 points and 96.5%): the
     * held-out polite share rises by at least 25 points, the training facts stay right within 5
     * points, and the KL to the reference of answers
     * sampled for held-out prompts (Σ log π − log πref per answer, averaged) stays under the target
     * the adaptive controller steers λ toward.
     */
    @Test
    void ppoAgainstTheRewardModelRaisesStyleAByTwentyFivePointsWithinTheKlTarget() {
        double targetKl = 2.0;
        PpoTrainer.Options options = PpoTrainer.Options.builder().batchSize(16).numMiniBatches(2).totalEpisodes(16 * 30)
                .learningRate(3e-4).targetKl(targetKl).temperature(1.0).responseLength(24).missingEosPenalty(1.0)
                .lora(new LoraAdapter.Config(8, 16, 0.0, LoraAdapter.ALL_TARGETS)).seed(3).build();
        List<Prompt> prompts = TwoStyleChat.trainFacts().stream().map(f -> Prompt.user(f.question())).toList();
        try (LlamaForCausalLM policy = LlamaForCausalLM.load(sft, Device.cpu()); ChatTokenizer tokenizer = ChatTokenizer.load(sft);
             LlamaForSequenceClassification value = LlamaForSequenceClassification.load(reward, Device.cpu());
             LlamaForSequenceClassification rm = LlamaForSequenceClassification.load(reward, Device.cpu());
             PpoTrainer trainer = new PpoTrainer(policy, null, value, rm, tokenizer, options)) {
            double before = heldOutShare(policy, tokenizer);
            List<PpoTrainer.Step> steps = trainer.train(prompts, step -> {
                if (step.step() % 10 == 0) {
                    System.out.printf("PPO step %d: objective/scores %.3f, objective/kl %.3f%n", step.step(),
                            step.metrics().get("objective/scores"), step.metrics().get("objective/kl"));
                }
            });
            double after = heldOutShare(policy, tokenizer);
            double correct = trainCorrect(policy, tokenizer);
            double kl = heldOutKl(policy, trainer.adapter(), tokenizer);
            System.out.printf("PPO: polite %.1f%% -> %.1f%%, training facts right %.1f%% -> %.1f%%, held-out KL %.3f nats per answer "
                    + "(target %.1f)%n", 100 * before, 100 * after, 100 * baseCorrect, 100 * correct, kl, targetKl);
            assertThat(correct).isGreaterThanOrEqualTo(baseCorrect - 0.05);
            assertThat(steps).hasSize(30);
            assertThat(steps.get(29).metrics()).containsKeys("objective/kl", "objective/scores", "objective/rlhf_reward",
                    "policy/clipfrac_avg", "val/clipfrac_avg", "loss/policy_avg", "loss/value_avg");
            assertThat(after - before).isGreaterThanOrEqualTo(0.25);
            assertThat(kl).isLessThan(targetKl);
            // The rollouts' own KL (k1, Σ per response) at the end of training: under the target too.
            assertThat(steps.subList(25, 30).stream().mapToDouble(st -> st.metrics().get("objective/kl")).average().orElseThrow())
                    .isLessThan(targetKl);
        }
    }

    /** The mean over sampled held-out answers of Σ_t (log π − log πref): the k1 estimate of KL(π‖πref) per answer. */
    private static double heldOutKl(LlamaForCausalLM policy, LoraAdapter adapter, ChatTokenizer tokenizer) {
        Generator generator = new Generator(policy, tokenizer);
        List<Scorer.Sequence> answers = new java.util.ArrayList<>();
        int n = 0;
        for (TwoStyleChat.Fact f : TwoStyleChat.heldOutFacts()) {
            int[] prompt = tokenizer.encodePrompt(Prompt.user(f.question()));
            for (int k = 0; k < SAMPLES_PER_PROMPT; k++) {
                String text = generator.generate(prompt, new SamplingParams(24, 1.0, 0, 1.0, 77 + n++, List.of(), true), null).text();
                answers.add(new Scorer.Sequence(tokenizer.encodePromptCompletion(Prompt.user(f.question()), text).ids(), prompt.length));
            }
        }
        List<Scorer.Scored> on = Scorer.score(policy, answers);
        List<Scorer.Scored> off;
        try (LoraAdapter.Scope disabled = adapter.disabled()) {
            off = Scorer.score(policy, answers);
        }
        double sum = 0;
        for (int i = 0; i < answers.size(); i++) {
            sum += on.get(i).completionSum() - off.get(i).completionSum();
        }
        return sum / answers.size();
    }

    /** After training: the polite share of held-out answers, and the right share of training-fact answers. */
    private record Learned(double polite, double correct) {}

    /**
     * LoRA (r 8, lr 5e-4) from the SFT model for {@code steps} steps of 16, then the held-out
     * polite share and the training facts with the adapter on. β above TRL's 0.1, and few steps
     * for DPO, whose 111 pairs repeat every 7 steps: a looser KL anchor, or DPO run on, pushes the
     * rejected answers' tokens down until the facts go with them (measured on this base: DPO at
     * 150 steps fell to 24% polite and 42% right; at 50 steps 90% and 95%). KTO at β 1.0: on an
     * SFT base that came out otherwise (an AdamW change of rounding alone), β 0.3 lost 6.5–7.6
     * points of the facts in three shuffles and β 0.5 2.9–3.8 in two, while β 1.0 lost 1.3–2.5
     * in eight runs (both label mixes, three shuffles, other draws), 88–94% polite.
     */
    private static Learned learn(TrainingOptions.Method method, List<Row> rows, double beta, int steps) {
        return learn(method, rows, beta, steps, null);
    }

    private static Learned learn(TrainingOptions.Method method, List<Row> rows, double beta, int steps, Double rpoAlpha) {
        TrainingOptions options = TrainingOptions.builder(method).rpoAlpha(rpoAlpha)
                .lora(new LoraAdapter.Config(8, 16, 0.0, LoraAdapter.ALL_TARGETS))
                .batchSize(16).maxSteps(steps).epochs(50).learningRate(5e-4).beta(beta).shuffle(true).build();
        try (LlamaForCausalLM model = LlamaForCausalLM.load(sft, Device.cpu()); ChatTokenizer tokenizer = ChatTokenizer.load(sft);
             Trainer trainer = method == TrainingOptions.Method.KTO ? Trainer.kto(model, tokenizer, null, options, rows)
                     : Trainer.dpo(model, tokenizer, null, options)) {
            double before = heldOutShare(model, tokenizer);
            trainer.train(rows, step -> { });
            double after = heldOutShare(model, tokenizer);
            double correct = trainCorrect(model, tokenizer);
            System.out.printf("%s (β %.1f, %d steps, rpo α %s): polite %.1f%% -> %.1f%% (held out), training facts right %.1f%% -> %.1f%%%n",
                    method, beta, steps, rpoAlpha, 100 * before, 100 * after, 100 * baseCorrect, 100 * correct);
            return new Learned(after, correct);
        }
    }

    private static double trainCorrect(LlamaForCausalLM model, ChatTokenizer tokenizer) {
        return TwoStyleChat.judgeAnswers(model, tokenizer, TwoStyleChat.trainFacts(), SAMPLES_FOR_FACTS, 1.0, 5).correct();
    }

    private static double heldOutShare(LlamaForCausalLM model, ChatTokenizer tokenizer) {
        return TwoStyleChat.judgeAnswers(model, tokenizer, TwoStyleChat.heldOutFacts(), SAMPLES_PER_PROMPT, 1.0, 1).polite();
    }
}
