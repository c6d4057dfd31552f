package dev.kaizen.alignment.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;

/** Rotary position embedding as Hugging Face's Llama applies it (rotate_half), with Llama 3 scaling. */
final class RotaryEmbedding {

    private final float[] invFreq;

    RotaryEmbedding(LlamaConfig config) {
        this.invFreq = inverseFrequencies(config);
    }

    /** 1 / θ^(2i/d), then Llama 3's smooth long-wavelength scaling when the config asks for it. */
    static float[] inverseFrequencies(LlamaConfig config) {
        int half = config.headDim() / 2;
        float[] inv = new float[half];
        LlamaConfig.RopeScaling s = config.ropeScaling();
        for (int i = 0; i < half; i++) {
            double f = 1.0 / Math.pow(config.ropeTheta(), (2.0 * i) / config.headDim());
            if (s != null) {
                double wavelen = 2 * Math.PI / f;
                double lowFreqWavelen = s.originalMaxPositionEmbeddings() / s.lowFreqFactor();
                double highFreqWavelen = s.originalMaxPositionEmbeddings() / s.highFreqFactor();
                if (wavelen > lowFreqWavelen) {
                    f = f / s.factor();
                } else if (wavelen >= highFreqWavelen) {
                    double smooth = (s.originalMaxPositionEmbeddings() / wavelen - s.lowFreqFactor())
                            / (s.highFreqFactor() - s.lowFreqFactor());
                    f = (1 - smooth) * f / s.factor() + smooth * f;
                }
            }
            inv[i] = (float) f;
        }
        return inv;
    }

    /** cos and sin for positions [B, T], each shaped [B, 1, T, headDim] to broadcast over heads. */
    NDList cosSin(NDArray positions) {
        NDArray freqs = positions.toType(DataType.FLOAT32, false).expandDims(-1)
                .mul(positions.getManager().create(invFreq));
        NDArray emb = NDArrays.concat(new NDList(freqs, freqs), -1).expandDims(1);
        return new NDList(emb.cos(), emb.sin());
    }

    static NDArray apply(NDArray x, NDArray cos, NDArray sin) {
        long half = x.getShape().get(x.getShape().dimension() - 1) / 2;
        NDArray x1 = x.get("..., :" + half);
        NDArray x2 = x.get("..., " + half + ":");
        NDArray rotated = NDArrays.concat(new NDList(x2.neg(), x1), -1);
        return x.mul(cos).add(rotated.mul(sin));
    }
}
