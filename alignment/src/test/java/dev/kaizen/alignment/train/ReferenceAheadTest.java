package dev.kaizen.alignment.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.Test;

import dev.kaizen.alignment.TestModels;
import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.NoGrad;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.alignment.tokenize.ChatTokenizer;

/** Full fine-tuning computes the reference's sums ahead and closes the reference: the same losses, one model fewer. */
class ReferenceAheadTest {

    private static final List<Row> KTO_ROWS = TwoStyleChat.ktoRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), 12, 0.5, 4));

    @Test
    void aKtoLossReadsTheSameSumsAheadAsLive() {
        try (LlamaForCausalLM policy = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             LlamaForCausalLM reference = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             NDManager m = policy.manager().newSubManager()) {
            // A policy apart from its reference, so the rewards are not zero whatever the reference reads.
            policy.parameters().values().forEach(p -> p.muli(1.01f));
            KtoObjective kto = new KtoObjective(policy, Reference.of(policy, reference, null, "KTO"), new Sequences(tokenizer, 128),
                    new KtoLoss.Config(KtoLoss.Type.KTO, 0.1, 1, 1));
            List<KtoObjective.Example> batch = KTO_ROWS.subList(0, 4).stream().map(kto::encode).toList();
            List<KtoObjective.Example> other = KTO_ROWS.subList(4, 8).stream().map(kto::encode).toList();
            Map<String, Double> live;
            try (NoGrad noGrad = NoGrad.enter()) {
                live = kto.loss(batch, m).metrics();
                assertThat(kto.computeReferenceAhead(batch)).isTrue();
                kto.closeReference();
                assertThat(reference.manager().isOpen()).isFalse();
                assertThat(kto.loss(batch, m).metrics()).isEqualTo(live);
                assertThat(live.get("rewards/chosen")).isNotZero();
                assertThatThrownBy(() -> kto.loss(other, m)).hasMessageContaining("closed");
                assertThat(kto.computeReferenceAhead(other)).isFalse();
            }
        }
    }

    @Test
    void sumsAheadAreReadOnlyForTheirOwnBatch() {
        try (LlamaForCausalLM policy = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             LlamaForCausalLM reference = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             NDManager m = policy.manager().newSubManager()) {
            KtoObjective kto = new KtoObjective(policy, Reference.of(policy, reference, null, "KTO"), new Sequences(tokenizer, 128),
                    new KtoLoss.Config(KtoLoss.Type.KTO, 0.1, 1, 1));
            kto.computeReferenceAhead(KTO_ROWS.subList(0, 4).stream().map(kto::encode).toList());
            List<KtoObjective.Example> other = KTO_ROWS.subList(4, 8).stream().map(kto::encode).toList();
            try (NoGrad noGrad = NoGrad.enter()) {
                assertThatThrownBy(() -> kto.loss(other, m)).hasMessageContaining("another batch");
            }
        }
    }

    @Test
    void fullFineTuningReadsEveryBatchAheadInTrainingOrderAndClosesTheReference() {
        TrainingOptions.Builder options = TrainingOptions.builder(TrainingOptions.Method.KTO).batchSize(2).epochs(2)
                .gradientAccumulationSteps(2).learningRate(1e-4).shuffle(true).lora(null);
        List<Trainer.ReferenceProgress> progress = new ArrayList<>();
        List<Trainer.Step> steps = new ArrayList<>();
        try (LlamaForCausalLM policy = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             LlamaForCausalLM reference = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             Trainer trainer = Trainer.kto(policy, tokenizer, reference, options.build(), KTO_ROWS)) {
            // A mismatch between the order computed ahead and the order trained would throw ("another batch").
            trainer.train(KTO_ROWS, p -> {
                assertThat(reference.manager().isOpen()).isTrue();
                progress.add(p);
            }, steps::add);
            assertThat(reference.manager().isOpen()).isFalse();
        }
        // 12 rows, batches of 2, two epochs: 12 micro-batches, 6 steps.
        assertThat(progress).hasSize(12).last().isEqualTo(new Trainer.ReferenceProgress(12, 12));
        assertThat(steps).hasSize(6);
        // Before any update the policy is its reference: sums read ahead for another batch would not cancel.
        // (They cancel to rounding: the reference scores each answer and its pair in one row, the policy apart.)
        assertThat(steps.get(0).metrics().get("kl")).isCloseTo(0.0, within(1e-4));
        assertThat(steps.get(0).metrics().get("rewards/chosen")).isCloseTo(0.0, within(1e-4));
        assertThat(steps.get(5).metrics().get("rewards/chosen")).isNotZero().isFinite();
    }

    @Test
    void dpoReadsAheadToo() {
        List<Row> pairs = TwoStyleChat.preferenceRows(TwoStyleChat.trainFacts()).subList(0, 6);
        List<Trainer.ReferenceProgress> progress = new ArrayList<>();
        try (LlamaForCausalLM policy = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             LlamaForCausalLM reference = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             Trainer trainer = Trainer.dpo(policy, tokenizer, reference,
                     TrainingOptions.builder(TrainingOptions.Method.DPO).batchSize(2).epochs(1).learningRate(1e-4).lora(null).build())) {
            List<Trainer.Step> steps = trainer.train(pairs, progress::add, s -> { });
            assertThat(steps).hasSize(3);
            assertThat(progress).hasSize(3);
            assertThat(reference.manager().isOpen()).isFalse();
            assertThat(steps.get(0).metrics()).containsEntry("rewards/margins", 0.0);
            assertThat(steps.get(2).metrics().get("rewards/margins")).isPositive();
        }
    }
}
