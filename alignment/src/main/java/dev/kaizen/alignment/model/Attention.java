package dev.kaizen.alignment.model;

import ai.djl.ndarray.NDArray;

/** Multi-head self-attention with grouped key/value heads, rotary positions and an optional cache. */
final class Attention {

    final Linear qProj;
    final Linear kProj;
    final Linear vProj;
    final Linear oProj;
    private final int heads;
    private final int kvHeads;
    private final int headDim;

    Attention(LlamaConfig config, Linear qProj, Linear kProj, Linear vProj, Linear oProj) {
        this.qProj = qProj;
        this.kProj = kProj;
        this.vProj = vProj;
        this.oProj = oProj;
        this.heads = config.numHeads();
        this.kvHeads = config.numKvHeads();
        this.headDim = config.headDim();
    }

    /**
     * x [B, T, hidden], or [N, hidden] with {@code packed} its batch's real tokens; cos/sin [B, 1, T,
     * headDim]; mask [B, 1, T, S] additive (0 or a large negative) over all S = past + T keys; cache,
     * if any, receives this step's keys and values. The result is shaped as x.
     */
    NDArray forward(NDArray x, NDArray cos, NDArray sin, NDArray mask, KvCache.Layer cache, PackedTokens packed) {
        long b = packed == null ? x.getShape().get(0) : packed.batch();
        long t = packed == null ? x.getShape().get(1) : packed.length();
        NDArray q = rows(qProj.forward(x), packed).reshape(b, t, heads, headDim).transpose(0, 2, 1, 3);
        NDArray k = rows(kProj.forward(x), packed).reshape(b, t, kvHeads, headDim).transpose(0, 2, 1, 3);
        NDArray v = rows(vProj.forward(x), packed).reshape(b, t, kvHeads, headDim).transpose(0, 2, 1, 3);
        q = RotaryEmbedding.apply(q, cos, sin);
        k = RotaryEmbedding.apply(k, cos, sin);
        if (cache != null) {
            NDArray[] kv = cache.append(k, v);
            k = kv[0];
            v = kv[1];
        }
        if (heads != kvHeads) {
            // Key/value head j serves query heads j·g … j·g+g−1, as Hugging Face's repeat_kv.
            k = k.repeat(1, heads / kvHeads);
            v = v.repeat(1, heads / kvHeads);
        }
        // Scaled before the product and masked in place: the [B, heads, T, S] scores exist twice
        // (the product, then softmax's output, which backward keeps), not four times.
        NDArray scores = q.mul(Scalar.of(x, 1 / Math.sqrt(headDim))).matMul(k.transpose(0, 1, 3, 2)).addi(mask);
        NDArray out = scores.softmax(-1).matMul(v).transpose(0, 2, 1, 3).reshape(b, t, (long) heads * headDim);
        return oProj.forward(packed == null ? out : packed.pack(out));
    }

    /** A projection's output in attention's [B, T] rows. */
    private static NDArray rows(NDArray projected, PackedTokens packed) {
        return packed == null ? projected : packed.unpack(projected);
    }
}
