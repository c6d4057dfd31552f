package dev.kaizen.alignment.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.djl.Device;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.TestModels;
import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.alignment.tokenize.ChatTokenizer;

/** The streaming job's step: guards that leave the model untouched, and checkpoints that resume exactly. */
class OnlineStepTest {

    private static final List<Row> ROWS = TwoStyleChat.ktoRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), 24, 0.5, 9));
    private static final KtoLoss.Config WEIGHTS = KtoLoss.Config.defaults();

    private static TrainingOptions options(double lr) {
        return TrainingOptions.builder(TrainingOptions.Method.KTO).batchSize(8).learningRate(lr).seed(3)
                .lora(new LoraAdapter.Config(4, 8, 0, LoraAdapter.ALL_TARGETS)).build();
    }

    private static Map<String, float[]> weights(Trainer trainer) {
        Map<String, float[]> out = new LinkedHashMap<>();
        trainer.adapter().parameters().forEach((name, p) -> out.put(name, p.toFloatArray()));
        return out;
    }

    private static void assertSame(Map<String, float[]> actual, Map<String, float[]> expected) {
        assertThat(actual.keySet()).isEqualTo(expected.keySet());
        expected.forEach((name, w) -> assertThat(actual.get(name)).as(name).containsExactly(w));
    }

    @Test
    void aGoodStepIsAppliedAndReportsItsKlToTheReference() {
        try (LlamaForCausalLM model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             Trainer trainer = Trainer.resume(model, tokenizer, options(1e-3), null)) {
            Map<String, float[]> before = weights(trainer);
            Trainer.OnlineStep first = trainer.step(ROWS.subList(0, 8), WEIGHTS, 1.0);
            assertThat(first.applied()).isTrue();
            assertThat(first.metrics()).containsKeys("loss", "kl", "grad_norm", "kl_to_reference");
            // B starts at zero, so the first step only moves B and the policy away from the reference.
            Trainer.OnlineStep second = trainer.step(ROWS.subList(8, 16), WEIGHTS, 1.0);
            assertThat(second.metrics().get("kl_to_reference")).isGreaterThan(0.0).isLessThan(1.0);
            Map<String, float[]> after = weights(trainer);
            assertThat(before.keySet()).anyMatch(name -> !java.util.Arrays.equals(after.get(name), before.get(name)));
        }
    }

    /**
     * A release gate's golden-set figure: the mean NLL per completion token is what SFT's loss
     * (per token, over the batch) reads before its first step, and it moves with the adapter while
     * the adapter switched off still gives the base model's.
     */
    @Test
    void theCompletionNllIsSftsLossOfTheRowsAndFollowsTheAdapter() {
        List<Row> golden = TwoStyleChat.sftRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), 6, 0.5, 4));
        TrainingOptions sft = TrainingOptions.builder(TrainingOptions.Method.SFT).batchSize(golden.size()).maxSteps(1)
                .learningRate(1e-3).shuffle(false).build();
        try (LlamaForCausalLM model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny())) {
            double base;
            try (Trainer trainer = Trainer.sft(model, tokenizer, sft)) {
                base = trainer.completionNll(golden);
                double loss = trainer.train(golden, step -> { }).get(0).metrics().get("loss");
                assertThat(base).isCloseTo(loss, within(1e-4));
            }
            try (LlamaForCausalLM fresh = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
                 Trainer trainer = Trainer.resume(fresh, tokenizer, options(1e-2), null)) {
                assertThat(trainer.completionNll(golden)).as("a fresh adapter changes nothing").isCloseTo(base, within(1e-5));
                trainer.step(ROWS.subList(0, 8), WEIGHTS, 10.0);
                trainer.step(ROWS.subList(8, 16), WEIGHTS, 10.0);
                assertThat(trainer.completionNll(golden)).isNotCloseTo(base, within(1e-4));
                try (LoraAdapter.Scope off = trainer.adapter().disabled()) {
                    assertThat(trainer.completionNll(golden)).isCloseTo(base, within(1e-5));
                }
            }
        }
    }

    /** Evaluation is the step's loss without the step: the same figures, under TRL's eval_ names, and nothing moves. */
    @Test
    void evaluationReportsTheLossAStepWouldReadAndTrainsNothing() {
        List<Row> rows = ROWS.subList(0, 8);
        long desirable = rows.stream().filter(r -> ((Row.Unpaired) r).desirable()).count();
        try (LlamaForCausalLM model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             Trainer trainer = Trainer.resume(model, tokenizer, options(1e-2), null)) {
            trainer.step(ROWS.subList(8, 16), WEIGHTS, 10.0);
            Map<String, float[]> before = weights(trainer);
            Map<String, Double> eval = trainer.evaluate(rows);
            assertSame(weights(trainer), before);
            Trainer.OnlineStep step = trainer.step(rows, KtoLoss.weighted(KtoLoss.Config.defaults(), desirable, rows.size() - desirable), 10.0);
            assertThat(eval).containsKeys("eval_loss", "eval_kl", "eval_rewards/chosen", "eval_rewards/rejected");
            assertThat(eval.get("eval_loss")).isCloseTo(step.metrics().get("loss"), within(1e-5));
            assertThat(eval.get("eval_rewards/chosen")).isCloseTo(step.metrics().get("rewards/chosen"), within(1e-5));
            // 17 rows: a lone last row joins the batch before it (KTO needs a pair).
            assertThat(trainer.evaluate(ROWS.subList(0, 17)).get("eval_loss")).isFinite();
        }
    }

    @Test
    void aStepOverTheKlBudgetIsDroppedAndLeavesAdapterAndOptimizerAsTheyWere(@TempDir Path dir) throws Exception {
        try (LlamaForCausalLM model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             Trainer poisoned = Trainer.resume(model, tokenizer, options(50), null)) {
            poisoned.step(ROWS.subList(0, 8), WEIGHTS, Double.MAX_VALUE);  // moves B off zero so the next step tells
            Map<String, float[]> before = weights(poisoned);
            poisoned.saveCheckpoint(dir.resolve("before"), TestModels.tiny());
            Trainer.OnlineStep step = poisoned.step(ROWS.subList(8, 16), WEIGHTS, 0.01);
            assertThat(step.rejection()).isEqualTo(Trainer.KL_OVER_BUDGET);
            assertThat(step.metrics().get("kl_to_reference")).isGreaterThan(0.01);
            assertSame(weights(poisoned), before);
            // The optimizer too: both moments of every weight, and its step count, byte for byte.
            poisoned.saveCheckpoint(dir.resolve("after"), TestModels.tiny());
            assertThat(dir.resolve("after").resolve(Trainer.OPTIMIZER_FILE))
                    .hasSameBinaryContentAs(dir.resolve("before").resolve(Trainer.OPTIMIZER_FILE));
            // The restored arrays still train: the next step within budget moves them.
            assertThat(poisoned.step(ROWS.subList(16, 24), WEIGHTS, Double.MAX_VALUE).applied()).isTrue();
            Map<String, float[]> after = weights(poisoned);
            assertThat(before.keySet()).anyMatch(name -> !java.util.Arrays.equals(after.get(name), before.get(name)));
        }
    }

    @Test
    void aNonFiniteLossIsDroppedWithoutTouchingTheModel() {
        try (LlamaForCausalLM model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             Trainer trainer = Trainer.resume(model, tokenizer, options(1e-3), null)) {
            trainer.step(ROWS.subList(0, 8), WEIGHTS, 1.0);
            Map<String, float[]> before = weights(trainer);
            KtoLoss.Config nan = new KtoLoss.Config(KtoLoss.Type.KTO, Double.NaN, 1, 1);
            Trainer.OnlineStep step = trainer.step(ROWS.subList(8, 16), nan, 1.0);
            assertThat(step.rejection()).isEqualTo(Trainer.NON_FINITE_LOSS);
            assertSame(weights(trainer), before);
            assertThat(trainer.step(ROWS.subList(16, 24), WEIGHTS, 1.0).applied()).isTrue();
        }
    }

    @Test
    void aSavedCheckpointResumesExactlyWhereTheLiveTrainerGoesOn(@TempDir Path dir) throws Exception {
        Map<String, float[]> live;
        Map<String, float[]> resumed;
        try (LlamaForCausalLM model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             Trainer trainer = Trainer.resume(model, tokenizer, options(1e-3), null)) {
            trainer.step(ROWS.subList(0, 8), WEIGHTS, 1.0);
            trainer.step(ROWS.subList(8, 16), WEIGHTS, 1.0);
            trainer.saveCheckpoint(dir.resolve("v2"), TestModels.tiny());
            trainer.step(ROWS.subList(16, 24), WEIGHTS, 1.0);
            live = weights(trainer);
        }
        assertThat(Files.list(dir.resolve("v2")).map(p -> p.getFileName().toString()))
                .containsExactlyInAnyOrder(LoraAdapter.CONFIG_FILE, LoraAdapter.WEIGHTS_FILE, Trainer.OPTIMIZER_FILE);
        try (LlamaForCausalLM model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             Trainer trainer = Trainer.resume(model, tokenizer, options(1e-3), dir.resolve("v2"))) {
            trainer.step(ROWS.subList(16, 24), WEIGHTS, 1.0);
            resumed = weights(trainer);
        }
        assertSame(resumed, live);
    }
}
