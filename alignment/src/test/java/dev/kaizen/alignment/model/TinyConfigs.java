package dev.kaizen.alignment.model;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.kaizen.alignment.weights.Dtype;
import dev.kaizen.alignment.weights.Tensor;

/** Small random configs of each served architecture, and random weights with visible effects. */
final class TinyConfigs {

    private static final ObjectMapper JSON = new ObjectMapper();

    private TinyConfigs() {}

    static ObjectNode llama() {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("LlamaForCausalLM");
        c.put("model_type", "llama");
        c.put("hidden_size", 32);
        c.put("intermediate_size", 48);
        c.put("num_attention_heads", 4);
        c.put("num_key_value_heads", 2);
        c.put("num_hidden_layers", 2);
        c.put("rms_norm_eps", 1e-5);
        c.put("rope_theta", 10000.0);
        c.put("vocab_size", 61);
        c.put("max_position_embeddings", 128);
        c.put("tie_word_embeddings", false);
        c.put("hidden_act", "silu");
        c.put("bos_token_id", 1);
        c.put("eos_token_id", 2);
        return c;
    }

    static ObjectNode qwen2() {
        ObjectNode c = llama();
        c.putArray("architectures").add("Qwen2ForCausalLM");
        c.put("model_type", "qwen2");
        c.put("num_key_value_heads", 1);
        c.put("tie_word_embeddings", true);
        c.put("rope_theta", 1000000.0);
        return c;
    }

    /** Llama 3 shape: tied head, attention_bias, and frequency-scaled RoPE that matters at head_dim 8. */
    static ObjectNode llama3() {
        ObjectNode c = llama();
        c.put("tie_word_embeddings", true);
        c.put("attention_bias", true);
        c.put("mlp_bias", true);
        ObjectNode s = c.putObject("rope_scaling");
        s.put("rope_type", "llama3");
        s.put("factor", 8.0);
        s.put("low_freq_factor", 1.0);
        s.put("high_freq_factor", 4.0);
        s.put("original_max_position_embeddings", 64);
        return c;
    }

    static ObjectNode mistral() {
        ObjectNode c = llama();
        c.putArray("architectures").add("MistralForCausalLM");
        c.put("model_type", "mistral");
        c.put("sliding_window", 3);
        return c;
    }

    /** Weights large enough that attention, norms and biases all move the logits. */
    static Map<String, Tensor> randomWeights(LlamaConfig config, long seed, Dtype dtype) {
        Random random = new Random(seed);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        LlamaForCausalLM.expectedShapes(config).forEach((name, shape) -> {
            float[] values = new float[(int) Tensor.numel(shape)];
            boolean norm = name.endsWith("layernorm.weight") || name.equals("model.norm.weight");
            for (int i = 0; i < values.length; i++) {
                values[i] = norm ? 1f + 0.1f * (float) random.nextGaussian() : 0.2f * (float) random.nextGaussian();
            }
            tensors.put(name, new Tensor(dtype, shape, values));
        });
        return tensors;
    }
}
