package dev.kaizen.alignment.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.weights.Dtype;
import dev.kaizen.alignment.weights.SafetensorsFile;

class LoraAdapterTest {

    private static final long[][] IDS = {{1, 17, 5, 42, 60, 3, 9, 33}};

    @TempDir
    Path dir;

    private static LlamaForCausalLM model() {
        LlamaConfig config = LlamaConfig.parse(TinyConfigs.llama());
        return LlamaForCausalLM.fromTensors(config, TinyConfigs.randomWeights(config, 3, Dtype.F32), Device.cpu());
    }

    private static LoraAdapter trainedLookingAdapter(LlamaForCausalLM model, List<String> targets) {
        LoraAdapter adapter = LoraAdapter.attach(model, new LoraAdapter.Config(4, 8, 0.0, targets), 1);
        Random random = new Random(2);
        adapter.parameters().forEach((name, array) -> {
            if (name.endsWith("lora_B.weight")) {
                float[] values = new float[(int) array.getShape().size()];
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) random.nextGaussian() * 0.3f;
                }
                array.set(FloatBuffer.wrap(values));
            }
        });
        return adapter;
    }

    @Test
    void aFreshAdapterChangesNothingAndOffIsExactlyTheBase() {
        try (LlamaForCausalLM model = model()) {
            float[][][] base = ModelForwardTest.logits(model, IDS, null);
            try (LoraAdapter adapter = LoraAdapter.attach(model, new LoraAdapter.Config(4, 8, 0, LoraAdapter.ALL_TARGETS), 1)) {
                assertThat(ModelForwardTest.logits(model, IDS, null)).isDeepEqualTo(base);
            }
            try (LoraAdapter adapter = trainedLookingAdapter(model, LoraAdapter.ALL_TARGETS)) {
                assertThat(ModelForwardTest.logits(model, IDS, null)[0][3][0]).isNotEqualTo(base[0][3][0]);
                try (LoraAdapter.Scope off = adapter.disabled()) {
                    assertThat(ModelForwardTest.logits(model, IDS, null)).isDeepEqualTo(base);
                }
            }
        }
    }

    /** W + (alpha/r)·B·A worked out here with plain loops, for r = 4 and alpha = 8: the update counts twice. */
    @Test
    void theUpdateIsBTimesAScaledByAlphaOverRank() {
        String q = "model.layers.0.self_attn.q_proj";
        try (LlamaForCausalLM model = model();
             LoraAdapter adapter = LoraAdapter.attach(model, new LoraAdapter.Config(4, 8, 0.0, List.of("q_proj")), 1)) {
            float[] w = model.tensors().get(q + ".weight").values();
            NDArray aArray = adapter.parameters().get("base_model.model." + q + ".lora_A.weight");
            NDArray bArray = adapter.parameters().get("base_model.model." + q + ".lora_B.weight");
            int r = 4;
            int in = (int) aArray.getShape().get(1);
            int out = (int) bArray.getShape().get(0);
            float[] a = new float[r * in];
            float[] b = new float[out * r];
            for (int i = 0; i < a.length; i++) {
                a[i] = (i % 7 - 3) * 0.01f;
            }
            for (int i = 0; i < b.length; i++) {
                b[i] = (i % 5 - 2) * 0.1f;
            }
            aArray.set(FloatBuffer.wrap(a));
            bArray.set(FloatBuffer.wrap(b));
            float[] merged = adapter.mergedTensors().get(q + ".weight").values();
            for (int o = 0; o < out; o++) {
                for (int j = 0; j < in; j++) {
                    double ba = 0;
                    for (int k = 0; k < r; k++) {
                        ba += (double) b[o * r + k] * a[k * in + j];
                    }
                    assertThat(merged[o * in + j]).as("[%d][%d]", o, j).isCloseTo((float) (w[o * in + j] + 2.0 * ba), within(1e-6f));
                }
            }
        }
    }

    @Test
    void mergingGivesTheSameModelAsTheAdapter() {
        try (LlamaForCausalLM model = model(); LoraAdapter adapter = trainedLookingAdapter(model, List.of("q_proj", "v_proj", "down_proj"))) {
            float[][][] withAdapter = ModelForwardTest.logits(model, IDS, null);
            try (LlamaForCausalLM merged = LlamaForCausalLM.fromTensors(model.config(), adapter.mergedTensors(), Device.cpu())) {
                float[][][] mergedLogits = ModelForwardTest.logits(merged, IDS, null);
                for (int t = 0; t < IDS[0].length; t++) {
                    for (int v = 0; v < mergedLogits[0][t].length; v++) {
                        assertThat(mergedLogits[0][t][v]).isCloseTo(withAdapter[0][t][v], within(1e-4f));
                    }
                }
            }
        }
    }

    @Test
    void savedAsAPeftDirectoryAndLoadedBack() throws IOException {
        try (LlamaForCausalLM model = model()) {
            float[][][] before;
            try (LoraAdapter adapter = trainedLookingAdapter(model, LoraAdapter.ALL_TARGETS)) {
                before = ModelForwardTest.logits(model, IDS, null);
                adapter.save(dir, "tiny-base");
            }
            JsonNode config = new ObjectMapper().readTree(dir.resolve(LoraAdapter.CONFIG_FILE).toFile());
            assertThat(config.get("peft_type").asText()).isEqualTo("LORA");
            assertThat(config.get("task_type").asText()).isEqualTo("CAUSAL_LM");
            assertThat(config.get("r").asInt()).isEqualTo(4);
            assertThat(config.get("lora_alpha").asDouble()).isEqualTo(8.0);
            assertThat(config.get("base_model_name_or_path").asText()).isEqualTo("tiny-base");
            try (SafetensorsFile weights = SafetensorsFile.open(dir.resolve(LoraAdapter.WEIGHTS_FILE))) {
                assertThat(weights.entries()).containsKeys("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                        "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight");
                assertThat(weights.entries().get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").shape())
                        .containsExactly(4, 32);
                assertThat(weights.entries()).hasSize(2 * 7 * 2);
            }
            try (LoraAdapter loaded = LoraAdapter.load(model, dir)) {
                assertThat(ModelForwardTest.logits(model, IDS, null)).isDeepEqualTo(before);
            }
        }
    }

    @Test
    void anAdapterMissingATensorIsRefusedByFile() throws IOException {
        try (LlamaForCausalLM model = model()) {
            try (LoraAdapter adapter = trainedLookingAdapter(model, List.of("q_proj"))) {
                adapter.save(dir, "tiny-base");
            }
            String json = Files.readString(dir.resolve(LoraAdapter.CONFIG_FILE)).replace("\"q_proj\"", "\"q_proj\", \"k_proj\"");
            Files.writeString(dir.resolve(LoraAdapter.CONFIG_FILE), json);
            assertThatThrownBy(() -> LoraAdapter.load(model, dir)).isInstanceOf(ModelDirectoryException.class)
                    .hasMessageContaining(dir.resolve(LoraAdapter.WEIGHTS_FILE).toString())
                    .hasMessageContaining("k_proj.lora_A.weight");
            // The failed load left the model without an adapter.
            try (LoraAdapter again = LoraAdapter.attach(model, new LoraAdapter.Config(2, 2, 0, List.of("k_proj")), 1)) {
                assertThat(again.parameters()).hasSize(4);
            }
        }
    }
}
