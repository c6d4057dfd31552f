package dev.kaizen.alignment.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.stream.Collectors;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;

import dev.kaizen.alignment.TestModels;
import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.alignment.loss.LossOutput;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.model.NoGrad;
import dev.kaizen.alignment.score.PaddedBatch;
import dev.kaizen.alignment.score.Scorer;
import dev.kaizen.alignment.score.SharedPromptBatch;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.alignment.tokenize.ChatTokenizer;

/**
 * A long KTO batch differentiated in parts of rows, and a short one whose answers share their
 * prompts' rows, have the gradients and metrics of the batch scored in separate passes.
 */
class KtoPartsTest {

    /** Eight rows of 512 tokens (answers cut): above {@link KtoObjective#PART_TOKENS}, so they go in parts. */
    private static List<Row> longRows() {
        List<Row> answers = TwoStyleChat.ktoRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), 8 * 30, 0.5, 5));
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            List<Row> mine = answers.subList(i * 30, (i + 1) * 30);
            Row.Unpaired first = (Row.Unpaired) mine.get(0);
            rows.add(new Row.Unpaired(first.prompt(), mine.stream().map(r -> ((Row.Unpaired) r).completion())
                    .collect(Collectors.joining(" ")), first.desirable()));
        }
        return rows;
    }

    @Test
    void partsGiveTheWholeBatchsGradientsAndMetrics() {
        try (LlamaForCausalLM policy = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             LoraAdapter adapter = trainedLookingAdapter(policy)) {
            KtoObjective kto = new KtoObjective(policy, Reference.of(policy, null, adapter, "KTO"), new Sequences(tokenizer, 512),
                    new KtoLoss.Config(KtoLoss.Type.KTO, 0.1, 1, 1.2));
            List<KtoObjective.Example> batch = longRows().stream().map(kto::encode).toList();
            Map<String, Double> wholeMetrics = new LinkedHashMap<>();
            Map<String, float[]> whole = gradients(adapter, (m, c) -> wholeMetrics.putAll(differentiated(kto.loss(batch, m), c)));
            List<Double> parts = new ArrayList<>();
            Map<String, Double> partMetrics = new LinkedHashMap<>();
            Map<String, float[]> inParts = gradients(adapter, (m, c) -> partMetrics.putAll(kto.differentiate(batch, m,
                    out -> parts.add(differentiated(out, c).get("loss")))));
            assertThat(parts).hasSizeGreaterThan(1);
            assertSame(partMetrics, inParts, wholeMetrics, whole);
        }
    }

    @Test
    void answersSharingTheirPromptsRowsGiveTheGradientsAndMetricsOfSeparatePasses() {
        try (LlamaForCausalLM policy = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             LoraAdapter adapter = trainedLookingAdapter(policy)) {
            Sequences sequences = new Sequences(tokenizer, 512);
            KtoLoss.Config config = new KtoLoss.Config(KtoLoss.Type.KTO, 0.1, 1, 1.2);
            KtoObjective kto = new KtoObjective(policy, Reference.of(policy, null, adapter, "KTO"), sequences, config);
            List<KtoObjective.Example> batch = TwoStyleChat.ktoRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), 6, 0.5, 5))
                    .stream().map(kto::encode).toList();
            List<Scorer.Sequence> own = new ArrayList<>();
            List<Scorer.Sequence> pairs = new ArrayList<>();
            float[] desirable = new float[batch.size()];
            for (int i = 0; i < batch.size(); i++) {
                own.add(sequences.of(batch.get(i).prompt(), batch.get(i).completion()));
                pairs.add(sequences.of(batch.get(i).prompt(), batch.get(KtoLoss.mismatchedPartner(i, batch.size())).completion()));
                desirable[i] = batch.get(i).desirable() ? 1 : 0;
            }
            assertThat(SharedPromptBatch.of(own, pairs)).as("the batch shares its prompts' rows").isNotNull();
            Map<String, Double> sharedMetrics = new LinkedHashMap<>();
            Map<String, float[]> shared = gradients(adapter, (m, c) -> sharedMetrics.putAll(differentiated(kto.loss(batch, m), c)));
            Map<String, Double> separateMetrics = new LinkedHashMap<>();
            Map<String, float[]> separate = gradients(adapter, (m, c) -> {
                NDArray policyPairs;
                NDArray referenceOwn;
                NDArray referencePairs;
                try (NoGrad noGrad = NoGrad.enter()) {
                    policyPairs = PaddedBatch.of(pairs).completionSums(policy, m);
                    try (LoraAdapter.Scope off = adapter.disabled()) {
                        referenceOwn = PaddedBatch.of(own).completionSums(policy, m);
                        referencePairs = PaddedBatch.of(pairs).completionSums(policy, m);
                    }
                }
                NDArray policyOwn = PaddedBatch.of(own).completionSums(policy, m);
                separateMetrics.putAll(differentiated(KtoLoss.compute(policyOwn, referenceOwn, policyPairs, referencePairs,
                        m.create(desirable), config), c));
            });
            assertThat(separateMetrics.get("kl")).isPositive();
            assertSame(sharedMetrics, shared, separateMetrics, separate);
        }
    }

    /** An adapter with non-zero B: the policy differs from its reference and every adapter weight gets a gradient. */
    private static LoraAdapter trainedLookingAdapter(LlamaForCausalLM policy) {
        LoraAdapter adapter = LoraAdapter.attach(policy, new LoraAdapter.Config(4, 8, 0, LoraAdapter.ALL_TARGETS), 3);
        adapter.parameters().values().forEach(p -> p.setRequiresGradient(true));
        try (NoGrad noGrad = NoGrad.enter()) {
            adapter.parameters().forEach((name, p) -> p.addi(name.endsWith("lora_B.weight") ? 0.02f : 0f));
        }
        return adapter;
    }

    /** The same metrics, and gradients equal to a ten-thousandth of each array's largest, not all zero. */
    private static void assertSame(Map<String, Double> metrics, Map<String, float[]> gradients, Map<String, Double> expectedMetrics,
                                   Map<String, float[]> expected) {
        assertThat(metrics.keySet()).isEqualTo(expectedMetrics.keySet());
        expectedMetrics.forEach((name, v) -> assertThat(metrics.get(name)).as(name).isCloseTo(v, within(1e-5 + 1e-5 * Math.abs(v))));
        expected.forEach((name, g) -> {
            float[] p = gradients.get(name);
            double scale = 1e-7;
            for (float x : g) {
                scale = Math.max(scale, Math.abs(x));
            }
            for (int i = 0; i < g.length; i++) {
                assertThat((double) p[i]).as(name + "[" + i + "]").isCloseTo(g[i], within(1e-4 * scale));
            }
        });
        assertThat(expected.values().stream().anyMatch(g -> g[0] != 0)).isTrue();
    }

    private static Map<String, Double> differentiated(LossOutput out, GradientCollector collector) {
        collector.backward(out.loss());
        return out.metrics();
    }

    private static Map<String, float[]> gradients(LoraAdapter adapter, BiConsumer<NDManager, GradientCollector> differentiate) {
        try (GradientLease lease = GradientLease.acquire();
             GradientCollector collector = Engine.getInstance().newGradientCollector();
             NDScope scope = new NDScope();
             NDManager m = adapter.parameters().values().iterator().next().getManager().newSubManager()) {
            differentiate.accept(m, collector);
        }
        Map<String, float[]> grads = new LinkedHashMap<>();
        adapter.parameters().forEach((name, p) -> {
            grads.put(name, p.getGradient().toFloatArray());
            JniUtils.zeroGrad((PtNDArray) p);
        });
        return grads;
    }
}
