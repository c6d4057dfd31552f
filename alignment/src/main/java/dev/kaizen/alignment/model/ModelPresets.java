package dev.kaizen.alignment.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.kaizen.alignment.tokenize.BpeTrainer;
import dev.kaizen.alignment.tokenize.TokenizerFiles;
import dev.kaizen.alignment.weights.Dtype;
import dev.kaizen.alignment.weights.ModelWeights;
import dev.kaizen.alignment.weights.Tensor;

/**
 * Randomly initialised Hugging Face model directories of known shapes, with a byte-level BPE
 * tokenizer learned by Kaizen itself: what tests, benchmarks and the demo start from.
 */
public enum ModelPresets {
    /** A model small enough to train in seconds on two cores; its vocabulary is exactly its tokenizer's. */
    TINY("tiny", 128, 352, 4, 2, 4, 0, 10000.0),
    /** SmolLM2-135M-Instruct's exact shape (its vocabulary size, our tokenizer). */
    SMOLLM2_135M("smollm2-135m", 576, 1536, 9, 3, 30, 49152, 100000.0);

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int TOKENIZER_VOCAB = 1024;
    private static final double INITIALIZER_RANGE = 0.02;

    private final String id;
    private final int hidden;
    private final int intermediate;
    private final int heads;
    private final int kvHeads;
    private final int layers;
    private final int vocab;
    private final double ropeTheta;

    ModelPresets(String id, int hidden, int intermediate, int heads, int kvHeads, int layers, int vocab, double ropeTheta) {
        this.id = id;
        this.hidden = hidden;
        this.intermediate = intermediate;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.layers = layers;
        this.vocab = vocab;
        this.ropeTheta = ropeTheta;
    }

    public String id() {
        return id;
    }

    public static ModelPresets byId(String id) {
        for (ModelPresets p : values()) {
            if (p.id.equals(id)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown preset '" + id + "'; presets are " + List.of(TINY.id, SMOLLM2_135M.id));
    }

    /** Writes config.json, model.safetensors, tokenizer.json and tokenizer_config.json into {@code dir}. */
    public void write(Path dir, long seed) throws IOException {
        write(dir, seed, List.of());
    }

    /** As {@link #write(Path, long)}, the tokenizer also learning from {@code taskCorpus} (a task's own text). */
    public void write(Path dir, long seed, List<String> taskCorpus) throws IOException {
        List<String> corpus = new java.util.ArrayList<>(corpus());
        corpus.addAll(taskCorpus);
        BpeTrainer.Vocabulary v = BpeTrainer.train(corpus, TOKENIZER_VOCAB, TokenizerFiles.CHATML_SPECIALS);
        TokenizerFiles.write(dir, v, 2048);
        LlamaConfig config = LlamaConfig.parse(config(Math.max(vocab, v.vocab().size()), v));
        ModelWeights.write(dir, randomWeights(config, seed), ModelWeights.DEFAULT_SHARD_BYTES);
        config.write(dir.resolve("config.json"));
    }

    private ObjectNode config(int vocabSize, BpeTrainer.Vocabulary v) {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("LlamaForCausalLM");
        c.put("model_type", "llama");
        c.put("hidden_size", hidden);
        c.put("intermediate_size", intermediate);
        c.put("num_attention_heads", heads);
        c.put("num_key_value_heads", kvHeads);
        c.put("num_hidden_layers", layers);
        c.put("head_dim", hidden / heads);
        c.put("hidden_act", "silu");
        c.put("rms_norm_eps", 1e-5);
        c.put("rope_theta", ropeTheta);
        c.putNull("rope_scaling");
        c.put("max_position_embeddings", 2048);
        c.put("initializer_range", INITIALIZER_RANGE);
        c.put("vocab_size", vocabSize);
        c.put("tie_word_embeddings", true);
        c.put("attention_bias", false);
        c.put("mlp_bias", false);
        c.put("bos_token_id", v.vocab().get(TokenizerFiles.IM_START));
        c.put("eos_token_id", v.vocab().get(TokenizerFiles.IM_END));
        c.put("pad_token_id", v.vocab().get(TokenizerFiles.IM_END));
        c.put("torch_dtype", "float32");
        c.put("use_cache", true);
        c.put("transformers_version", "4.46.0");
        return c;
    }

    /** Hugging Face's initialisation: projections and embeddings N(0, initializer_range²), norms 1. */
    static Map<String, Tensor> randomWeights(LlamaConfig config, long seed) {
        Random random = new Random(seed);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        LlamaForCausalLM.expectedShapes(config).forEach((name, shape) -> {
            float[] values = new float[Math.toIntExact(Tensor.numel(shape))];
            if (name.endsWith("norm.weight")) {
                java.util.Arrays.fill(values, 1f);
            } else if (!name.endsWith(".bias")) {
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) (random.nextGaussian() * INITIALIZER_RANGE);
                }
            }
            tensors.put(name, new Tensor(Dtype.F32, shape, values));
        });
        return tensors;
    }

    static List<String> corpus() {
        try (InputStream in = ModelPresets.class.getResourceAsStream("/dev/kaizen/alignment/tokenize/corpus.txt")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().map(l -> l + "\n").toList();
        } catch (IOException e) {
            throw new UncheckedIOException("the tokenizer corpus is missing from the jar", e);
        }
    }
}
