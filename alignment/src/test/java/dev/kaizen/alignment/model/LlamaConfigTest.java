package dev.kaizen.alignment.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

class LlamaConfigTest {

    /**
     * SmolLM2-135M's config.json as published: Hugging Face counts 134,515,008 parameters, of which
     * 61 RMSNorm weight vectors of 576 (two per layer and the final one) are not multiplied through.
     */
    @Test
    void theMatmulWeightsOfSmolLm2AreItsPublishedParametersLessItsNorms() throws Exception {
        ObjectNode json = (ObjectNode) new ObjectMapper().readTree("""
                {"architectures": ["LlamaForCausalLM"], "hidden_size": 576, "intermediate_size": 1536,
                 "num_attention_heads": 9, "num_key_value_heads": 3, "num_hidden_layers": 30, "head_dim": 64,
                 "rms_norm_eps": 1e-05, "rope_theta": 100000, "vocab_size": 49152, "max_position_embeddings": 8192,
                 "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2}""");
        assertThat(LlamaConfig.parse(json).matmulParameters()).isEqualTo(134_515_008L - 61 * 576);
    }
}
