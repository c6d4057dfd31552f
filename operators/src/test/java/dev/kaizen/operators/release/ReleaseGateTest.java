package dev.kaizen.operators.release;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import ai.djl.Device;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.alignment.train.Trainer;
import dev.kaizen.alignment.train.TrainingOptions;

/** Each check of the gate, against baselines a last release could have carried, on a real model's greedy answers. */
class ReleaseGateTest {

    private static final ReleaseConfig CONFIG = new ReleaseConfig(2, Duration.ofMinutes(1), "unused", 0.05, 1.5, 0.5, 0.05, 512, 0.02);
    private static final List<Row> GOLDEN = TwoStyleChat.sftRows(TwoStyleChat.trainFacts().stream().limit(4)
            .map(f -> new TwoStyleChat.Example(f, TwoStyleChat.Style.A)).toList());

    @TempDir
    static Path base;

    @BeforeAll
    static void writeBase() throws Exception {
        ModelPresets.TINY.write(base, 3);
    }

    @Test
    void eachCheckRefusesNamingItsFiguresAndTheFirstReleaseIsJudgedAgainstTheBase() throws Exception {
        TrainingOptions options = TrainingOptions.builder(TrainingOptions.Method.KTO).batchSize(2).seed(1)
                .lora(new LoraAdapter.Config(4, 8, 0, LoraAdapter.ALL_TARGETS)).build();
        try (LlamaForCausalLM model = LlamaForCausalLM.load(base, Device.cpu()); ChatTokenizer tokenizer = ChatTokenizer.load(base);
             Trainer fresh = Trainer.resume(model, tokenizer, options, null)) {
            ReleaseGate gate = new ReleaseGate(GOLDEN, CONFIG, model, tokenizer);
            // A fresh adapter is the base model: every figure equals its baseline.
            ReleaseGate.Verdict first = gate.judge(fresh, null, List.of(), null);
            assertThat(first.passed()).isTrue();
            Map<String, Double> m = first.metrics();
            assertThat(m.get(ReleaseGate.GOLDEN_NLL)).isCloseTo(m.get(ReleaseGate.GOLDEN_NLL_BASELINE), org.assertj.core.api.Assertions.within(1e-5));
            assertThat(m.get(ReleaseGate.ANSWER_TOKENS)).isEqualTo(m.get(ReleaseGate.ANSWER_TOKENS_BASELINE)).isPositive();
            double nll = m.get(ReleaseGate.GOLDEN_NLL);
            double tokens = m.get(ReleaseGate.ANSWER_TOKENS);
            double distinct = m.get(ReleaseGate.DISTINCT_2);
            assertThat(distinct).isPositive();

            assertThat(gate.judge(fresh, release(nll - 0.1, tokens, distinct), List.of(), null).refusal())
                    .startsWith("eval-gate: golden-nll rose 0.1000 nats/token").endsWith("over the allowed 0.0500");
            assertThat(gate.judge(fresh, release(nll - 0.04, tokens, distinct), List.of(), null).passed()).isTrue();
            assertThat(gate.judge(fresh, release(nll, tokens * 2, distinct), List.of(), null).refusal())
                    .startsWith("eval-gate: answer-length changed 0.50x");
            assertThat(gate.judge(fresh, release(nll, tokens / 1.6, distinct), List.of(), null).refusal())
                    .startsWith("eval-gate: answer-length changed 1.60x");
            assertThat(gate.judge(fresh, release(nll, tokens * 1.4, distinct), List.of(), null).passed()).isTrue();
            assertThat(gate.judge(fresh, release(nll, tokens, distinct * 2.1), List.of(), null).refusal()).startsWith("eval-gate: distinct-2 fell to");
            assertThat(gate.judge(fresh, release(nll, tokens, distinct * 1.9), List.of(), null).passed()).isTrue();

            ReleaseGate.Verdict skipped = new ReleaseGate(List.of(), CONFIG, model, tokenizer).judge(fresh, null, List.of(), null);
            assertThat(skipped.passed()).isTrue();
            assertThat(skipped.metrics()).isEqualTo(Map.of(ReleaseGate.GOLDEN_SKIPPED, 1.0, ReleaseGate.HOLDOUT_SKIPPED, 1.0));
        }
    }

    private static Map<String, Double> release(double nll, double tokens, double distinct) {
        return Map.of(ReleaseGate.GOLDEN_NLL, nll, ReleaseGate.ANSWER_TOKENS, tokens, ReleaseGate.DISTINCT_2, distinct, "loss", 0.5);
    }

    /** On held-out votes: the candidate's KTO loss against the last release's on the same samples, the base model's before the first. */
    @Test
    void theHeldOutLossMayNotRiseOverTheLastReleasesByMoreThanTheTolerance() throws Exception {
        List<Row> heldOut = TwoStyleChat.ktoRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), 12, 0.5, 8));
        TrainingOptions options = TrainingOptions.builder(TrainingOptions.Method.KTO).batchSize(2).seed(1)
                .lora(new LoraAdapter.Config(4, 8, 0, LoraAdapter.ALL_TARGETS)).build();
        try (LlamaForCausalLM model = LlamaForCausalLM.load(base, Device.cpu()); ChatTokenizer tokenizer = ChatTokenizer.load(base);
             Trainer fresh = Trainer.resume(model, tokenizer, options, null)) {
            ReleaseGate gate = new ReleaseGate(List.of(), CONFIG, model, tokenizer);
            ReleaseGate.Verdict first = gate.judge(fresh, null, heldOut, null);
            assertThat(first.passed()).isTrue();
            double loss = first.metrics().get(ReleaseGate.EVAL_LOSS);
            assertThat(first.metrics().get(ReleaseGate.EVAL_LOSS_BASELINE)).isCloseTo(loss, org.assertj.core.api.Assertions.within(1e-6));
            assertThat(first.metrics()).containsKeys("eval_kl", "eval_rewards/chosen").containsEntry(ReleaseGate.GOLDEN_SKIPPED, 1.0);
            assertThat(gate.judge(fresh, null, heldOut, loss - 0.03).refusal())
                    .startsWith("eval-gate: holdout-loss rose 0.0300").contains("on 12 held-out samples").endsWith("over the allowed 0.0200");
            assertThat(gate.judge(fresh, null, heldOut, loss - 0.01).passed()).isTrue();
            assertThat(gate.judge(fresh, null, heldOut.subList(0, 1), null).metrics()).containsEntry(ReleaseGate.HOLDOUT_SKIPPED, 1.0);
        }
    }
}
