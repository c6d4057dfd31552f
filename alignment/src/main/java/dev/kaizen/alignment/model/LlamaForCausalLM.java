package dev.kaizen.alignment.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Function;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.nn.core.Embedding;

import dev.kaizen.alignment.weights.Dtype;
import dev.kaizen.alignment.weights.ModelWeights;
import dev.kaizen.alignment.weights.Tensor;

/**
 * A Llama-family decoder with its language-model head, its weights held as DJL arrays under
 * Hugging Face's tensor names. The blocks mirror modeling_llama.py one for one. When the config
 * is a *ForSequenceClassification (a reward model) the same decoder carries HF's {@code score}
 * head instead, read at each sequence's last token by {@link #rewards}.
 */
public final class LlamaForCausalLM implements AutoCloseable {

    /** Added to attention scores of keys a query must not see; finite so fully masked rows stay finite. */
    static final float MASKED = -1e30f;

    private final LlamaConfig config;
    private final NDManager manager;
    private final Map<String, NDArray> parameters;
    private final Map<String, Dtype> storedAs;
    private final NDArray embedTokens;
    private final List<DecoderLayer> layers = new ArrayList<>();
    private final Map<String, Linear> projections = new LinkedHashMap<>();
    private final RMSNorm norm;
    private final Linear lmHead;
    private final RotaryEmbedding rope;

    private LlamaForCausalLM(LlamaConfig config, NDManager manager, Map<String, NDArray> parameters,
                             Map<String, Dtype> storedAs) {
        this.config = config;
        this.manager = manager;
        this.parameters = parameters;
        this.storedAs = storedAs;
        this.embedTokens = parameters.get("model.embed_tokens.weight");
        for (int i = 0; i < config.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            Attention attention = new Attention(config, linear(p + "self_attn.q_proj"), linear(p + "self_attn.k_proj"),
                    linear(p + "self_attn.v_proj"), linear(p + "self_attn.o_proj"));
            MLP mlp = new MLP(linear(p + "mlp.gate_proj"), linear(p + "mlp.up_proj"), linear(p + "mlp.down_proj"));
            layers.add(new DecoderLayer(new RMSNorm(parameters.get(p + "input_layernorm.weight"), config.rmsNormEps()),
                    attention, new RMSNorm(parameters.get(p + "post_attention_layernorm.weight"), config.rmsNormEps()), mlp));
        }
        this.norm = new RMSNorm(parameters.get("model.norm.weight"), config.rmsNormEps());
        this.lmHead = config.sequenceClassification() ? new Linear("score", parameters.get("score.weight"), null)
                : new Linear("lm_head", config.tieWordEmbeddings() ? embedTokens : parameters.get("lm_head.weight"), null);
        this.rope = new RotaryEmbedding(config);
    }

    private Linear linear(String name) {
        Linear linear = new Linear(name, parameters.get(name + ".weight"), parameters.get(name + ".bias"));
        projections.put(name, linear);
        return linear;
    }

    /** The attention and MLP projections by Hugging Face module name, for adapters. */
    Map<String, Linear> projections() {
        return java.util.Collections.unmodifiableMap(projections);
    }

    /** Every tensor the config implies, by Hugging Face name, with its shape. */
    public static Map<String, long[]> expectedShapes(LlamaConfig c) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        long h = c.hiddenSize();
        long q = (long) c.numHeads() * c.headDim();
        long kv = (long) c.numKvHeads() * c.headDim();
        long inter = c.intermediateSize();
        shapes.put("model.embed_tokens.weight", new long[] {c.vocabSize(), h});
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            projection(shapes, p + "self_attn.q_proj", q, h, c.qkvBias());
            projection(shapes, p + "self_attn.k_proj", kv, h, c.qkvBias());
            projection(shapes, p + "self_attn.v_proj", kv, h, c.qkvBias());
            projection(shapes, p + "self_attn.o_proj", h, q, c.outputBias());
            projection(shapes, p + "mlp.gate_proj", inter, h, c.mlpBias());
            projection(shapes, p + "mlp.up_proj", inter, h, c.mlpBias());
            projection(shapes, p + "mlp.down_proj", h, inter, c.mlpBias());
            shapes.put(p + "input_layernorm.weight", new long[] {h});
            shapes.put(p + "post_attention_layernorm.weight", new long[] {h});
        }
        shapes.put("model.norm.weight", new long[] {h});
        if (c.sequenceClassification()) {
            shapes.put("score.weight", new long[] {c.numLabels(), h});
        } else if (!c.tieWordEmbeddings()) {
            shapes.put("lm_head.weight", new long[] {c.vocabSize(), h});
        }
        return shapes;
    }

    private static void projection(Map<String, long[]> shapes, String name, long out, long in, boolean bias) {
        shapes.put(name + ".weight", new long[] {out, in});
        if (bias) {
            shapes.put(name + ".bias", new long[] {out});
        }
    }

    /** Loads config.json and the safetensors weights of a Hugging Face model directory. */
    public static LlamaForCausalLM load(Path dir, Device device) {
        LlamaConfig config = LlamaConfig.read(dir.resolve("config.json"));
        try (ModelWeights weights = ModelWeights.open(dir)) {
            for (var e : expectedShapes(config).entrySet()) {
                if (!weights.names().contains(e.getKey())) {
                    throw new ModelDirectoryException(weights.source(), "has no tensor " + e.getKey() + ", which config.json ("
                            + config.architecture() + ", " + config.numLayers() + " layers) requires");
                }
                long[] actual = weights.entry(e.getKey()).shape();
                if (!Arrays.equals(actual, e.getValue())) {
                    throw new ModelDirectoryException(weights.fileOf(e.getKey()), "tensor " + e.getKey() + " has shape "
                            + Arrays.toString(actual) + " but config.json implies " + Arrays.toString(e.getValue()));
                }
            }
            return build(config, device, weights::toNDArray, name -> weights.entry(name).dtype());
        }
    }

    /** A model from tensors already in memory (named and shaped as {@link #expectedShapes}). */
    public static LlamaForCausalLM fromTensors(LlamaConfig config, Map<String, Tensor> tensors, Device device) {
        expectedShapes(config).forEach((name, shape) -> {
            Tensor t = tensors.get(name);
            if (t == null || !Arrays.equals(t.shape(), shape)) {
                throw new IllegalArgumentException("tensor " + name + " is missing or misshapen");
            }
        });
        return build(config, device, (name, manager) -> manager.create(tensors.get(name).values(),
                new Shape(tensors.get(name).shape())), name -> tensors.get(name).dtype());
    }

    private static LlamaForCausalLM build(LlamaConfig config, Device device, BiFunction<String, NDManager, NDArray> source,
                                          Function<String, Dtype> dtype) {
        NDManager manager = NDManager.newBaseManager(device);
        Map<String, NDArray> parameters = new LinkedHashMap<>();
        Map<String, Dtype> storedAs = new LinkedHashMap<>();
        try {
            for (String name : expectedShapes(config).keySet()) {
                NDArray array = source.apply(name, manager);
                array.setName(name);
                parameters.put(name, array);
                storedAs.put(name, dtype.apply(name));
            }
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
        return new LlamaForCausalLM(config, manager, parameters, storedAs);
    }

    public LlamaConfig config() {
        return config;
    }

    public NDManager manager() {
        return manager;
    }

    /** The weights under their Hugging Face names, in checkpoint order. */
    public Map<String, NDArray> parameters() {
        return java.util.Collections.unmodifiableMap(parameters);
    }

    /**
     * Logits [B, T, vocab] for token ids [B, T]. {@code attentionMask} [B, T] is 1 for real tokens
     * and 0 for padding (null: all real); positions count real tokens only, so left-padded rows
     * match unpadded ones. With a cache, ids are the new tokens and the cache grows by T.
     */
    public NDArray forward(NDArray inputIds, NDArray attentionMask, KvCache cache) {
        if (config.sequenceClassification()) {
            throw new IllegalStateException("a " + config.architecture() + " has a score head, not a language-model head");
        }
        return lmHead.forward(hiddenStates(inputIds, attentionMask, cache));
    }

    /**
     * Rewards [B, num_labels] of a right-padded batch, read from each row's last real token as
     * Hugging Face's *ForSequenceClassification does. Differentiable.
     */
    public NDArray rewards(NDArray inputIds, NDArray attentionMask) {
        if (!config.sequenceClassification()) {
            throw new IllegalStateException("a " + config.architecture() + " has no score head");
        }
        NDArray hidden = hiddenStates(inputIds, attentionMask, null);
        NDArray mask = attentionMask.toType(DataType.FLOAT32, false);
        // One-hot at position length−1 of each row: the last token that is not padding.
        NDArray last = mask.sub(NDArrays.concat(new NDList(mask.get(":, 1:"), mask.get(":, :1").zerosLike()), 1));
        return lmHead.forward(hidden.mul(last.expandDims(-1)).sum(new int[] {1}));
    }

    /**
     * The score head read at every position [B, T], of a *ForSequenceClassification model with one
     * label: a value model's per-token values, as TRL reads them for PPO. Differentiable.
     */
    public NDArray tokenScores(NDArray inputIds, NDArray attentionMask) {
        if (!config.sequenceClassification() || config.numLabels() != 1) {
            throw new IllegalStateException("per-token values need a score head with one label; this is a " + config.architecture());
        }
        return lmHead.forward(hiddenStates(inputIds, attentionMask, null)).squeeze(-1);
    }

    /** The decoder's final, normalised hidden states [B, T, hidden]. */
    private NDArray hiddenStates(NDArray inputIds, NDArray attentionMask, KvCache cache) {
        long b = inputIds.getShape().get(0);
        long t = inputIds.getShape().get(1);
        NDManager m = inputIds.getManager();
        NDArray step = attentionMask == null ? m.ones(new Shape(b, t)) : attentionMask.toType(DataType.FLOAT32, false);
        NDArray full = cache == null ? step : cache.extendMask(step);
        long s = full.getShape().get(1);
        long past = s - t;
        NDArray positions = full.cumSum(1).sub(1).maximum(0).get(":, " + past + ":");
        NDList cosSin = rope.cosSin(positions);
        NDArray mask = attentionMask(m, full, past, t, s);

        NDArray h = Embedding.embedding(inputIds.toType(DataType.INT64, false), embedTokens, SparseFormat.DENSE)
                .singletonOrThrow();
        boolean inference = !JniUtils.isGradMode();
        for (int i = 0; i < layers.size(); i++) {
            KvCache.Layer layerCache = cache == null ? null : cache.layer(i);
            if (!inference) {
                h = layers.get(i).forward(h, cosSin.get(0), cosSin.get(1), mask, layerCache);
                continue;
            }
            // Without a graph, each layer's intermediates are freed when it ends, not when the
            // caller's scope does: at 30 layers, one layer's activations instead of all of them.
            // Never while training: DJL wraps the Java buffers of constants (every scalar) in
            // place, and autograd reads the saved ones at backward, after this scope would free them.
            NDArray next;
            try (NDScope layerScope = new NDScope()) {
                next = layers.get(i).forward(h, cosSin.get(0), cosSin.get(1), mask, layerCache);
                NDScope.unregister(next);
            }
            NDScope.register(next);
            h.close();
            h = next;
        }
        return norm.forward(h);
    }

    /** Additive mask [B, 1, T, S]: a query at position past+i sees keys j ≤ past+i that are not padding. */
    private NDArray attentionMask(NDManager m, NDArray full, long past, long t, long s) {
        NDArray rows = m.arange(past, past + t).toType(DataType.FLOAT32, false).reshape(t, 1);
        NDArray cols = m.arange(0, s).toType(DataType.FLOAT32, false).reshape(1, s);
        NDArray allowed = cols.lte(rows);
        if (config.slidingWindow() != null) {
            allowed = allowed.logicalAnd(cols.gt(rows.sub(config.slidingWindow())));
        }
        NDArray keys = full.reshape(full.getShape().get(0), 1, 1, s);
        return allowed.toType(DataType.FLOAT32, false).mul(keys).sub(1).mul(-MASKED);
    }

    /**
     * A reward model made from this causal model: the same decoder weights, and HF's score head
     * initialised N(0, 0.02²) as transformers initialises it. This model is left as it is.
     */
    public LlamaForCausalLM toRewardModel(long seed) {
        Map<String, Tensor> tensors = tensors();
        tensors.remove("lm_head.weight");
        float[] score = new float[config.hiddenSize()];
        java.util.Random random = new java.util.Random(seed);
        for (int i = 0; i < score.length; i++) {
            score[i] = (float) (random.nextGaussian() * 0.02);
        }
        tensors.put("score.weight", new Tensor(Dtype.F32, new long[] {1, config.hiddenSize()}, score));
        return fromTensors(config.asRewardModel(), tensors, manager.getDevice());
    }

    /** The weights as tensors, each in the dtype it was loaded from. */
    public Map<String, Tensor> tensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        parameters.forEach((name, array) -> out.put(name,
                new Tensor(storedAs.get(name), array.getShape().getShape(), array.toFloatArray())));
        return out;
    }

    /** Writes config.json and the weights (sharded past {@code maxShardBytes}) into {@code dir}. */
    public void save(Path dir, long maxShardBytes) throws IOException {
        ModelWeights.write(dir, tensors(), maxShardBytes);
        config.write(dir.resolve("config.json"));
    }

    @Override
    public void close() {
        manager.close();
    }
}
