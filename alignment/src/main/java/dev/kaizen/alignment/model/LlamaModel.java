package dev.kaizen.alignment.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Hugging Face's {@code LlamaModel}: token embeddings, the decoder layers and the final norm, the
 * blocks of modeling_llama.py one for one, over weights named {@code model.*}. The heads
 * ({@link LlamaForCausalLM}, {@link LlamaForSequenceClassification}) read its hidden states.
 */
public final class LlamaModel {

    /** Added to attention scores of keys a query must not see; finite so fully masked rows stay finite. */
    static final float MASKED = -1e30f;

    private final LlamaConfig config;
    private final Map<String, NDArray> parameters;
    private final NDArray embedTokens;
    private final List<DecoderLayer> layers = new ArrayList<>();
    private final Map<String, Linear> projections = new LinkedHashMap<>();
    private final RMSNorm norm;
    private final RotaryEmbedding rope;

    LlamaModel(LlamaConfig config, Map<String, NDArray> parameters) {
        this.config = config;
        this.parameters = parameters;
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
        this.rope = new RotaryEmbedding(config);
    }

    private Linear linear(String name) {
        Linear linear = new Linear(name, parameters.get(name + ".weight"), parameters.get(name + ".bias"));
        projections.put(name, linear);
        return linear;
    }

    /** The attention and MLP projections by Hugging Face module name, for adapters. */
    Map<String, Linear> projections() {
        return Collections.unmodifiableMap(projections);
    }

    /** The input embedding matrix, which a tied language-model head shares. */
    NDArray embedTokens() {
        return embedTokens;
    }

    /** Every tensor of the decoder the config implies, by Hugging Face name, with its shape. */
    static Map<String, long[]> expectedShapes(LlamaConfig c) {
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
        return shapes;
    }

    private static void projection(Map<String, long[]> shapes, String name, long out, long in, boolean bias) {
        shapes.put(name + ".weight", new long[] {out, in});
        if (bias) {
            shapes.put(name + ".bias", new long[] {out});
        }
    }

    /**
     * The final, normalised hidden states [B, T, hidden] for token ids [B, T]. {@code attentionMask}
     * [B, T] is 1 for real tokens and 0 for padding (null: all real); positions count real tokens
     * only, so left-padded rows match unpadded ones. With a cache, ids are the new tokens and the
     * cache grows by T. Padding positions' hidden states are not meaningful.
     */
    public NDArray forward(NDArray inputIds, NDArray attentionMask, KvCache cache) {
        long b = inputIds.getShape().get(0);
        long t = inputIds.getShape().get(1);
        NDManager m = inputIds.getManager();
        NDArray step = attentionMask == null ? m.ones(new Shape(b, t)) : attentionMask.toType(DataType.FLOAT32, false);
        NDArray full = cache == null ? step : cache.extendMask(step);
        long s = full.getShape().get(1);
        long past = s - t;
        NDArray positions = full.cumSum(1).sub(1).maximum(0).get(":, " + past + ":");
        // A batch with padding runs on its real tokens alone but in attention; a cache's rows stay as they are.
        PackedTokens packed = cache == null && attentionMask != null ? PackedTokens.of(step) : null;
        return decode(inputIds, positions, attentionMask(m, full, past, t, s), packed, cache);
    }

    /**
     * As {@link #forward(NDArray, NDArray, KvCache)}, with the positions and what each token attends
     * to spelled out, as Hugging Face's position_ids and 4-D attention_mask: {@code visible} [B, 1, T, T]
     * is 1 where query i may read key j. For rows that hold one prompt and several answers to it.
     */
    public NDArray forward(NDArray inputIds, NDArray attentionMask, NDArray positionIds, NDArray visible) {
        NDArray mask = Scoped.only(() -> visible.toType(DataType.FLOAT32, false).sub(1).muli(-MASKED));
        return decode(inputIds, positionIds, mask, PackedTokens.of(attentionMask.toType(DataType.FLOAT32, false)), null);
    }

    /** The decoder over ids at {@code positions} [B, T], with the additive attention mask [B, 1, T, S]. */
    private NDArray decode(NDArray inputIds, NDArray positions, NDArray mask, PackedTokens packed, KvCache cache) {
        NDList cosSin = rope.cosSin(positions);
        NDArray ids = inputIds.toType(DataType.INT64, false);
        NDArray h = Rows.gather(packed == null ? ids : packed.packIds(ids), embedTokens);
        for (int i = 0; i < layers.size(); i++) {
            DecoderLayer layer = layers.get(i);
            KvCache.Layer layerCache = cache == null ? null : cache.layer(i);
            NDArray in = h;
            // One layer's intermediates at a time, not all of them (see Scoped for why this is safe while training).
            h = Scoped.only(() -> layer.forward(in, cosSin.get(0), cosSin.get(1), mask, layerCache, packed));
            in.close();
        }
        NDArray normed = norm.forward(h);
        return packed == null ? normed : packed.unpack(normed);
    }

    /** Additive mask [B, 1, T, S]: a query at position past+i sees keys j ≤ past+i that are not padding. */
    private NDArray attentionMask(NDManager m, NDArray full, long past, long t, long s) {
        NDArray rows = m.arange(past, past + t).toType(DataType.FLOAT32, false).reshape(t, 1);
        NDArray cols = m.arange(0, s).toType(DataType.FLOAT32, false).reshape(1, s);
        NDArray allowed = config.slidingWindow() == null ? cols.lte(rows)
                : cols.lte(rows).logicalAnd(cols.gt(rows.sub(config.slidingWindow())));
        NDArray keys = full.reshape(full.getShape().get(0), 1, 1, s);
        // [B, 1, T, S] is as large as one head's scores: only the result outlives this.
        return Scoped.only(() -> allowed.toType(DataType.FLOAT32, false).mul(keys).subi(1).muli(-MASKED));
    }
}
