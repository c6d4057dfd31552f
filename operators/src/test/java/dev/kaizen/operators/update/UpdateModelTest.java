package dev.kaizen.operators.update;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.alignment.train.Trainer;
import dev.kaizen.checkpoints.CheckpointStore;
import dev.kaizen.operators.accumulate.KtoBatch;
import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.ModelUpdate;

class UpdateModelTest {

    @TempDir
    static Path base;

    @TempDir
    Path store;

    @BeforeAll
    static void writeBase() throws Exception {
        ModelPresets.TINY.write(base, 11);
    }

    static KtoBatch batch(String model, int seed) {
        List<SettledVote> samples = new ArrayList<>();
        int i = 0;
        for (TwoStyleChat.Example e : TwoStyleChat.sample(TwoStyleChat.trainFacts(), 6, 0.5, seed)) {
            samples.add(new SettledVote(model, "r" + seed + "-" + i, "u" + i, "e" + seed + "-" + i++, 0L,
                    e.style() == TwoStyleChat.Style.A, List.of(new ChatMessage("user", e.fact().question())), e.answer()));
        }
        return new KtoBatch(model, samples, 1.0, 1.0);
    }

    private UpdateConfig config() {
        return new UpdateConfig(base.toString(), null, store.toUri().toString(), 5e-4, 0.3, KtoLoss.Type.KTO, 8, 16, 0.0, 0.5, 42, 512);
    }

    private static KeyedOneInputStreamOperatorTestHarness<String, KtoBatch, ModelUpdate> harness(UpdateConfig config) throws Exception {
        var h = new KeyedOneInputStreamOperatorTestHarness<>(new KeyedProcessOperator<>(new UpdateModel(config)),
                KtoBatch::modelId, Types.STRING);
        h.open();
        return h;
    }

    private static void assertStored(ModelUpdate u) throws Exception {
        Path dir = Path.of(java.net.URI.create(u.getUri()));
        assertThat(CheckpointStore.hashFiles(dir)).isEqualTo(u.getFiles());
        assertThat(CheckpointStore.manifestSha256(u.getFiles())).isEqualTo(u.getSha256());
        assertThat(dir.getFileName().toString()).isEqualTo(u.getSha256());
    }

    @Test
    void eachBatchBecomesTheNextVersionStoredOnceUnderItsContentAddress() throws Exception {
        try (var h = harness(config())) {
            h.processElement(batch("m", 1), 0);
            h.processElement(batch("m", 2), 0);
            List<ModelUpdate> out = h.extractOutputValues();
            assertThat(out).extracting(ModelUpdate::getVersion).containsExactly(1L, 2L);
            assertThat(out).extracting(ModelUpdate::getParentVersion).containsExactly(0L, 1L);
            assertThat(out).extracting(ModelUpdate::getFeedbackCount).containsExactly(6L, 6L);
            assertThat(out).allSatisfy(u -> {
                assertThat(u.getRejectionReason()).isNull();
                assertThat(u.getFiles()).containsOnlyKeys("adapter_config.json", "adapter_model.safetensors", Trainer.OPTIMIZER_FILE);
                assertThat(u.getMetrics()).containsKeys("loss", "kl", "kl_to_reference", "grad_norm");
            });
            for (ModelUpdate u : out) {
                assertStored(u);
            }
            assertThat(out.get(0).getSha256()).isNotEqualTo(out.get(1).getSha256());
            assertThat(h.numKeyedStateEntries()).isEqualTo(1);  // the head of "m"
            try (var list = Files.list(store.resolve("m"))) {
                assertThat(list.map(p -> p.getFileName().toString()))
                        .containsExactlyInAnyOrder(out.get(0).getSha256(), out.get(1).getSha256());
            }
        }
    }

    @Test
    void aRestoredOperatorContinuesFromTheAnnouncedCheckpointBitForBit() throws Exception {
        OperatorSubtaskState snapshot;
        String continued;
        try (var h = harness(config())) {
            h.processElement(batch("m", 1), 0);
            snapshot = h.snapshot(1, 1);
            h.processElement(batch("m", 2), 0);
            continued = h.extractOutputValues().get(1).getSha256();
        }
        var h = new KeyedOneInputStreamOperatorTestHarness<>(new KeyedProcessOperator<>(new UpdateModel(config())),
                KtoBatch::modelId, Types.STRING);
        h.initializeState(snapshot);
        h.open();
        try (h) {
            h.processElement(batch("m", 2), 0);
            ModelUpdate v2 = h.extractOutputValues().get(0);
            assertThat(v2.getVersion()).isEqualTo(2);
            assertThat(v2.getParentVersion()).isEqualTo(1);
            // Same content, same address: the replayed step wrote exactly what the first run did.
            assertThat(v2.getSha256()).isEqualTo(continued);
        }
    }

    @Test
    void modelsSharingASubtaskEachKeepTheirOwnLineage() throws Exception {
        String alone;
        try (var h = harness(config())) {
            h.processElement(batch("a", 1), 0);
            h.processElement(batch("a", 2), 0);
            alone = h.extractOutputValues().get(1).getSha256();
        }
        try (var h = harness(config())) {
            h.processElement(batch("a", 1), 0);
            h.processElement(batch("b", 5), 0);
            h.processElement(batch("a", 2), 0);
            List<ModelUpdate> out = h.extractOutputValues();
            assertThat(out).extracting(u -> u.getModelId() + "@" + u.getVersion()).containsExactly("a@1", "b@1", "a@2");
            assertThat(out.get(2).getSha256()).isEqualTo(alone);
        }
    }

    @Test
    void aPoisonedStepIsReportedAndNeverBecomesAVersion() throws Exception {
        UpdateConfig c = config();
        // An adapter scaled by NaN, as overflowing weights would leave one: every forward pass, and so the loss, is NaN.
        UpdateConfig nan = new UpdateConfig(c.baseModelDir(), c.baseModelName(), c.checkpointRoot(), c.learningRate(), c.beta(),
                KtoLoss.Type.KTO, c.loraRank(), Double.NaN, c.loraDropout(), c.klBudget(), c.seed(), c.maxLength());
        try (var h = harness(nan)) {
            h.processElement(batch("m", 1), 0);
            assertThat(h.extractOutputValues()).isEmpty();
            ModelUpdate rejected = h.getSideOutput(UpdateModel.REJECTIONS).poll().getValue();
            assertThat(rejected.getRejectionReason()).isEqualTo(Trainer.NON_FINITE_LOSS);
            assertThat(rejected.getVersion()).isEqualTo(1);
            assertThat(rejected.getParentVersion()).isZero();
            assertThat(rejected.getFeedbackCount()).isEqualTo(6);
            assertThat(rejected.getUri()).isEqualTo(base.toUri().toString());
            assertThat(h.numKeyedStateEntries()).isZero();
        }
        UpdateConfig hot = new UpdateConfig(c.baseModelDir(), c.baseModelName(), c.checkpointRoot(), 50, c.beta(),
                KtoLoss.Type.KTO, c.loraRank(), c.loraAlpha(), c.loraDropout(), 1e-4, c.seed(), c.maxLength());
        try (var h = harness(hot)) {
            h.processElement(batch("m", 1), 0);
            h.processElement(batch("m", 2), 0);
            assertThat(h.extractOutputValues()).isEmpty();
            assertThat(h.getSideOutput(UpdateModel.REJECTIONS)).extracting(r -> r.getValue().getRejectionReason())
                    .containsExactly(Trainer.KL_OVER_BUDGET, Trainer.KL_OVER_BUDGET);
            assertThat(h.getSideOutput(UpdateModel.REJECTIONS)).allSatisfy(r -> {
                assertThat(r.getValue().getParentVersion()).isZero();
                assertThat(r.getValue().getMetrics().get("kl_to_reference")).isGreaterThan(1e-4);
            });
            assertThat(h.numKeyedStateEntries()).isZero();
        }
        assertThat(store.resolve("m")).doesNotExist();
    }
}
