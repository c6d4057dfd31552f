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
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.model.NoGrad;
import dev.kaizen.alignment.score.PaddedBatch;
import dev.kaizen.alignment.score.Scorer;
import dev.kaizen.alignment.tokenize.Prompt;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.alignment.train.Trainer;
import dev.kaizen.alignment.train.TrainingOptions;

/**
 * Real training on the synthetic two-style task: a tiny model is SFT-trained to answer in both
 * styles about equally, then each preference method must move the style-A share of answers
 * sampled for held-out prompts, and a reward model must rank held-out pairs.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class TwoStyleLearningTest {

    private static final int SAMPLES_PER_PROMPT = 8;

    @TempDir
    static Path root;

    static Path sft;

    @BeforeAll
    static void sftOnBothStyles() throws IOException {
        sft = root.resolve("sft");
        TwoStyleChat.writeSftModel(sft, step -> { });
    }

    @Test
    void sftAnswersInBothStylesAboutEqually() {
        try (LlamaForCausalLM model = LlamaForCausalLM.load(sft, Device.cpu()); ChatTokenizer tokenizer = ChatTokenizer.load(sft)) {
            assertThat(heldOutShare(model, tokenizer)).isBetween(0.3, 0.7);
        }
    }

    @Test
    void ktoOnLabelledAnswersRaisesStyleAToEightyFivePercent() {
        List<Row> rows = TwoStyleChat.ktoRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), 2000, 0.5, 9));
        assertThat(shareAfter(TrainingOptions.Method.KTO, rows)).isGreaterThanOrEqualTo(0.85);
    }

    @Test
    void ktoWithOnlyTenPercentDesirableStillReachesEightyPercent() {
        List<Row> rows = TwoStyleChat.ktoRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), 2000, 0.1, 11));
        long desirable = rows.stream().filter(r -> ((Row.Unpaired) r).desirable()).count();
        assertThat(desirable / (double) rows.size()).isBetween(0.07, 0.13);
        assertThat(shareAfter(TrainingOptions.Method.KTO, rows)).isGreaterThanOrEqualTo(0.80);
    }

    @Test
    void dpoOnPairsRaisesStyleAToEightyFivePercent() {
        assertThat(shareAfter(TrainingOptions.Method.DPO, TwoStyleChat.preferenceRows(TwoStyleChat.trainFacts())))
                .isGreaterThanOrEqualTo(0.85);
    }

    @Test
    void theRewardModelRanksHeldOutPairsAtLeastNinetyPercentOfTheTime() throws IOException {
        Path rewardDir = root.resolve("reward");
        TrainingOptions options = TrainingOptions.builder(TrainingOptions.Method.RM)
                .lora(new LoraAdapter.Config(8, 16, 0.0, LoraAdapter.ALL_TARGETS))
                .batchSize(16).maxSteps(60).epochs(50).learningRate(5e-4).shuffle(true).build();
        try (LlamaForCausalLM causal = LlamaForCausalLM.load(sft, Device.cpu()); ChatTokenizer tokenizer = ChatTokenizer.load(sft);
             LlamaForCausalLM reward = causal.toRewardModel(5);
             Trainer trainer = new Trainer(reward, tokenizer, null, options)) {
            trainer.train(TwoStyleChat.preferenceRows(TwoStyleChat.trainFacts()), step -> { });
            trainer.save(rewardDir, sft);
        }
        try (LlamaForCausalLM reward = LlamaForCausalLM.load(rewardDir, Device.cpu()); ChatTokenizer tokenizer = ChatTokenizer.load(rewardDir)) {
            assertThat(reward.config().architecture()).isEqualTo("LlamaForSequenceClassification");
            List<TwoStyleChat.Fact> heldOut = TwoStyleChat.heldOutFacts();
            List<Scorer.Sequence> seqs = new java.util.ArrayList<>();
            for (TwoStyleChat.Fact f : heldOut) {
                for (TwoStyleChat.Style style : TwoStyleChat.Style.values()) {
                    seqs.add(new Scorer.Sequence(tokenizer.encodePromptCompletion(Prompt.user(f.question()), f.answer(style)).ids(), 1));
                }
            }
            PaddedBatch batch = PaddedBatch.of(seqs);
            float[] rewards;
            try (NoGrad noGrad = NoGrad.enter(); NDManager m = reward.manager().newSubManager()) {
                rewards = reward.rewards(m.create(batch.ids()), m.create(batch.attention())).toFloatArray();
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
     * LoRA from the SFT model, 150 steps of 16, then the held-out share with the adapter on.
     * β = 0.3 rather than TRL's 0.1: with 111 training facts seen many times over, a looser KL
     * anchor lets DPO push the rejected answers' first tokens down until sampling spills onto
     * junk tokens (measured: lr 1e-3, β 0.1 left DPO at 55%; β 0.3, lr 5e-4 gives about 90%).
     */
    private static double shareAfter(TrainingOptions.Method method, List<Row> rows) {
        TrainingOptions options = TrainingOptions.builder(method)
                .lora(new LoraAdapter.Config(8, 16, 0.0, LoraAdapter.ALL_TARGETS))
                .batchSize(16).maxSteps(150).epochs(50).learningRate(5e-4).beta(0.3).shuffle(true).build();
        try (LlamaForCausalLM model = LlamaForCausalLM.load(sft, Device.cpu()); ChatTokenizer tokenizer = ChatTokenizer.load(sft);
             Trainer trainer = new Trainer(model, tokenizer, null, options)) {
            double before = heldOutShare(model, tokenizer);
            trainer.train(rows, step -> { });
            double after = heldOutShare(model, tokenizer);
            System.out.printf("%s: style A %.1f%% -> %.1f%%%n", method, 100 * before, 100 * after);
            return after;
        }
    }

    private static double heldOutShare(LlamaForCausalLM model, ChatTokenizer tokenizer) {
        return TwoStyleChat.shareOfStyleA(model, tokenizer, TwoStyleChat.heldOutFacts(), SAMPLES_PER_PROMPT, 1);
    }
}
