package dev.kaizen.alignment.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The shape of a Llama-family decoder, read from a Hugging Face {@code config.json}. The raw JSON
 * is kept so a saved model carries every field Hugging Face tools expect, including ones we ignore.
 */
public record LlamaConfig(
        String architecture,
        int hiddenSize,
        int intermediateSize,
        int numHeads,
        int numKvHeads,
        int headDim,
        int numLayers,
        double rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        int vocabSize,
        int maxPositionEmbeddings,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        boolean outputBias,
        boolean mlpBias,
        Integer slidingWindow,
        Integer bosTokenId,
        List<Integer> eosTokenIds,
        Integer padTokenId,
        int numLabels,
        ObjectNode json) {

    public static final Set<String> ARCHITECTURES = Set.of("LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM",
            "LlamaForSequenceClassification", "Qwen2ForSequenceClassification", "MistralForSequenceClassification");

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Llama 3's frequency-dependent RoPE scaling ({@code rope_type: llama3}). */
    public record RopeScaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings) {}

    public static LlamaConfig read(Path file) {
        JsonNode node;
        try {
            node = JSON.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new ModelDirectoryException(file, "missing; a Hugging Face model directory needs config.json");
        } catch (IOException e) {
            throw new ModelDirectoryException(file, "is not valid JSON: " + e.getMessage(), e);
        }
        if (!(node instanceof ObjectNode object)) {
            throw new ModelDirectoryException(file, "is not a JSON object");
        }
        try {
            return parse(object);
        } catch (IllegalArgumentException e) {
            throw new ModelDirectoryException(file, e.getMessage(), e);
        }
    }

    public static LlamaConfig parse(ObjectNode json) {
        String architecture = json.path("architectures").path(0).asText("");
        if (!ARCHITECTURES.contains(architecture)) {
            throw new IllegalArgumentException("architecture '" + architecture + "' is not one Kaizen serves; it serves "
                    + ARCHITECTURES);
        }
        String act = json.path("hidden_act").asText("silu");
        if (!act.equals("silu")) {
            throw new IllegalArgumentException("hidden_act '" + act + "' is not supported; Llama-family models use silu");
        }
        boolean qwen = architecture.startsWith("Qwen2");
        if (qwen && json.path("use_sliding_window").asBoolean(false)) {
            throw new IllegalArgumentException("Qwen2 with use_sliding_window=true is not supported");
        }
        int hidden = positive(json, "hidden_size");
        int heads = positive(json, "num_attention_heads");
        int kvHeads = json.has("num_key_value_heads") && !json.get("num_key_value_heads").isNull()
                ? positive(json, "num_key_value_heads") : heads;
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        int headDim = json.hasNonNull("head_dim") ? positive(json, "head_dim") : hidden / heads;
        if (!json.hasNonNull("head_dim") && hidden % heads != 0) {
            throw new IllegalArgumentException("hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("head_dim " + headDim + " must be even for rotary embeddings");
        }
        boolean attentionBias = json.path("attention_bias").asBoolean(false);
        Integer window = architecture.startsWith("Mistral") && json.hasNonNull("sliding_window")
                ? positive(json, "sliding_window") : null;
        return new LlamaConfig(architecture, hidden, positive(json, "intermediate_size"), heads, kvHeads, headDim,
                positive(json, "num_hidden_layers"), json.path("rms_norm_eps").asDouble(1e-6),
                json.path("rope_theta").asDouble(10000.0), ropeScaling(json.get("rope_scaling")),
                positive(json, "vocab_size"), json.path("max_position_embeddings").asInt(2048),
                json.path("tie_word_embeddings").asBoolean(false),
                qwen || attentionBias, !qwen && attentionBias, json.path("mlp_bias").asBoolean(false), window,
                optionalId(json, "bos_token_id"), ids(json.get("eos_token_id")), optionalId(json, "pad_token_id"),
                architecture.endsWith("ForSequenceClassification") ? Math.max(1, json.path("num_labels").asInt(1)) : 0,
                json.deepCopy());
    }

    /**
     * The weights one token multiplies through on a forward pass of the causal LM: every layer's
     * attention (q, k, v, o) and MLP (gate, up, down) projections and the language-model head, tied
     * or not. A forward costs twice this many FLOPs a token, plus attention's scores, which grow
     * with the sequence and are left out (a few percent at the lengths Kaizen trains on).
     */
    public long matmulParameters() {
        long q = (long) numHeads * headDim;
        long kv = (long) numKvHeads * headDim;
        long layer = hiddenSize * (q + 2 * kv) + q * hiddenSize + 3L * hiddenSize * intermediateSize;
        return numLayers * layer + (long) vocabSize * hiddenSize;
    }

    /** True for a *ForSequenceClassification model: a score head instead of the language-model head. */
    public boolean sequenceClassification() {
        return numLabels > 0;
    }

    /** This config as its *ForSequenceClassification twin with one label, as a reward model is. */
    public LlamaConfig asRewardModel() {
        ObjectNode copy = json.deepCopy();
        copy.putArray("architectures").add(architecture.replace("ForCausalLM", "ForSequenceClassification"));
        copy.put("num_labels", 1);
        copy.putObject("id2label").put("0", "LABEL_0");
        copy.putObject("label2id").put("LABEL_0", 0);
        return parse(copy);
    }

    public void write(Path file) throws IOException {
        Files.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(json) + "\n");
    }

    private static RopeScaling ropeScaling(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = node.path("rope_type").asText(node.path("type").asText(""));
        return switch (type) {
            case "default" -> null;
            case "llama3" -> new RopeScaling(node.path("factor").asDouble(8.0), node.path("low_freq_factor").asDouble(1.0),
                    node.path("high_freq_factor").asDouble(4.0), node.path("original_max_position_embeddings").asInt(8192));
            default -> throw new IllegalArgumentException("rope_scaling type '" + type + "' is not supported (default, llama3)");
        };
    }

    private static int positive(JsonNode json, String field) {
        JsonNode value = json.get(field);
        if (value == null || !value.canConvertToInt() || value.asInt() <= 0) {
            throw new IllegalArgumentException(field + " must be a positive integer, not " + value);
        }
        return value.asInt();
    }

    private static Integer optionalId(JsonNode json, String field) {
        JsonNode value = json.get(field);
        return value == null || value.isNull() ? null : value.asInt();
    }

    private static List<Integer> ids(JsonNode node) {
        List<Integer> ids = new ArrayList<>();
        if (node != null && node.isArray()) {
            node.forEach(n -> ids.add(n.asInt()));
        } else if (node != null && !node.isNull()) {
            ids.add(node.asInt());
        }
        return List.copyOf(ids);
    }
}
