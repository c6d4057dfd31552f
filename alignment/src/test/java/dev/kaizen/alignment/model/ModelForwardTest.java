package dev.kaizen.alignment.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Map;
import java.util.stream.Stream;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import dev.kaizen.alignment.weights.Dtype;
import dev.kaizen.alignment.weights.Tensor;

class ModelForwardTest {

    static Stream<Arguments> configs() {
        return Stream.of(Arguments.of("llama-gqa", TinyConfigs.llama()), Arguments.of("qwen2-bias", TinyConfigs.qwen2()),
                Arguments.of("llama3-rope-scaling", TinyConfigs.llama3()), Arguments.of("mistral-window", TinyConfigs.mistral()));
    }

    private static final int[] IDS = {1, 17, 5, 42, 60, 3, 9, 33, 21, 7, 58, 12};

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void agreesWithTheDoublePrecisionReference(String name, ObjectNode json) {
        LlamaConfig config = LlamaConfig.parse(json);
        Map<String, Tensor> weights = TinyConfigs.randomWeights(config, 7, Dtype.F32);
        double[][] expected = new ReferenceLlama(config, weights).logits(IDS);
        try (LlamaForCausalLM model = LlamaForCausalLM.fromTensors(config, weights, Device.cpu())) {
            float[][] actual = logits(model, new long[][] {toLong(IDS)}, null)[0];
            for (int t = 0; t < IDS.length; t++) {
                for (int v = 0; v < config.vocabSize(); v++) {
                    assertThat((double) actual[t][v]).as("logit[%d][%d]", t, v).isCloseTo(expected[t][v], within(1e-4));
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void generatingWithTheCacheEqualsRecomputingFromScratch(String name, ObjectNode json) {
        LlamaConfig config = LlamaConfig.parse(json);
        try (LlamaForCausalLM model = LlamaForCausalLM.fromTensors(config, TinyConfigs.randomWeights(config, 11, Dtype.F32), Device.cpu());
             KvCache cache = new KvCache(model.manager(), config.numLayers())) {
            float[][] full = logits(model, new long[][] {toLong(IDS)}, null)[0];
            int prompt = 5;
            float[][] first = stepped(model, cache, java.util.Arrays.copyOfRange(IDS, 0, prompt));
            assertClose(first[prompt - 1], full[prompt - 1]);
            for (int t = prompt; t < IDS.length; t++) {
                float[][] next = stepped(model, cache, new int[] {IDS[t]});
                assertClose(next[0], full[t]);
            }
            assertThat(cache.length()).isEqualTo(IDS.length);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void aLaterTokenNeverChangesAnEarlierPosition(String name, ObjectNode json) {
        LlamaConfig config = LlamaConfig.parse(json);
        try (LlamaForCausalLM model = LlamaForCausalLM.fromTensors(config, TinyConfigs.randomWeights(config, 13, Dtype.F32), Device.cpu())) {
            int[] changed = IDS.clone();
            changed[8] = (changed[8] + 1) % config.vocabSize();
            float[][][] both = logits(model, new long[][] {toLong(IDS), toLong(changed)}, null);
            for (int t = 0; t < 8; t++) {
                assertClose(both[1][t], both[0][t]);
            }
            assertThat(both[1][8]).isNotEqualTo(both[0][8]);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void aLeftPaddedBatchEqualsEachRowAlone(String name, ObjectNode json) {
        LlamaConfig config = LlamaConfig.parse(json);
        try (LlamaForCausalLM model = LlamaForCausalLM.fromTensors(config, TinyConfigs.randomWeights(config, 17, Dtype.F32), Device.cpu())) {
            int[] shorter = {4, 8, 15, 16, 23, 42};
            int pad = IDS.length - shorter.length;
            long[] padded = new long[IDS.length];
            float[] mask = new float[IDS.length];
            for (int i = 0; i < IDS.length; i++) {
                padded[i] = i < pad ? 0 : shorter[i - pad];
                mask[i] = i < pad ? 0 : 1;
            }
            float[] ones = new float[IDS.length];
            java.util.Arrays.fill(ones, 1);
            float[][][] batch = logits(model, new long[][] {toLong(IDS), padded}, new float[][] {ones, mask});
            float[][] aloneLong = logits(model, new long[][] {toLong(IDS)}, null)[0];
            float[][] aloneShort = logits(model, new long[][] {toLong(shorter)}, null)[0];
            for (int t = 0; t < IDS.length; t++) {
                assertClose(batch[0][t], aloneLong[t]);
            }
            for (int t = 0; t < shorter.length; t++) {
                assertClose(batch[1][pad + t], aloneShort[t]);
            }
        }
    }

    /** Callers without a scope of their own get the same logits; the per-layer scopes hand results up safely. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void aForwardOutsideAnyScopeGivesTheSameLogits(String name, ObjectNode json) {
        LlamaConfig config = LlamaConfig.parse(json);
        try (LlamaForCausalLM model = LlamaForCausalLM.fromTensors(config, TinyConfigs.randomWeights(config, 19, Dtype.F32), Device.cpu());
             NDManager m = model.manager().newSubManager()) {
            float[][] scoped = logits(model, new long[][] {toLong(IDS)}, null)[0];
            float[][] unscoped = reshape(model.forward(m.create(new long[][] {toLong(IDS)}), null, null))[0];
            for (int t = 0; t < IDS.length; t++) {
                assertClose(unscoped[t], scoped[t]);
            }
        }
    }

    static float[][][] logits(LlamaForCausalLM model, long[][] ids, float[][] mask) {
        try (NDScope scope = new NDScope(); NDManager m = model.manager().newSubManager()) {
            NDArray out = model.forward(m.create(ids), mask == null ? null : m.create(mask), null);
            return reshape(out);
        }
    }

    private static float[][] stepped(LlamaForCausalLM model, KvCache cache, int[] ids) {
        try (NDScope scope = new NDScope(); NDManager m = model.manager().newSubManager()) {
            return reshape(model.forward(m.create(new long[][] {toLong(ids)}), null, cache))[0];
        }
    }

    private static float[][][] reshape(NDArray logits) {
        long[] s = logits.getShape().getShape();
        float[] flat = logits.toFloatArray();
        float[][][] out = new float[(int) s[0]][(int) s[1]][(int) s[2]];
        for (int b = 0; b < s[0]; b++) {
            for (int t = 0; t < s[1]; t++) {
                System.arraycopy(flat, (int) ((b * s[1] + t) * s[2]), out[b][t], 0, (int) s[2]);
            }
        }
        return out;
    }

    private static void assertClose(float[] actual, float[] expected) {
        for (int i = 0; i < expected.length; i++) {
            assertThat(actual[i]).as("logit %d", i).isCloseTo(expected[i], within(2e-5f));
        }
    }

    static long[] toLong(int[] ids) {
        return java.util.Arrays.stream(ids).asLongStream().toArray();
    }
}
