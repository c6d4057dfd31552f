package dev.kaizen.alignment.model;

import ai.djl.ndarray.NDArray;

/** Pre-norm residual block: attention, then the MLP. */
final class DecoderLayer {

    final RMSNorm inputLayernorm;
    final Attention selfAttn;
    final RMSNorm postAttentionLayernorm;
    final MLP mlp;

    DecoderLayer(RMSNorm inputLayernorm, Attention selfAttn, RMSNorm postAttentionLayernorm, MLP mlp) {
        this.inputLayernorm = inputLayernorm;
        this.selfAttn = selfAttn;
        this.postAttentionLayernorm = postAttentionLayernorm;
        this.mlp = mlp;
    }

    NDArray forward(NDArray h, NDArray cos, NDArray sin, NDArray mask, KvCache.Layer cache, PackedTokens packed) {
        h = h.add(selfAttn.forward(inputLayernorm.forward(h), cos, sin, mask, cache, packed));
        return h.add(mlp.forward(postAttentionLayernorm.forward(h)));
    }
}
