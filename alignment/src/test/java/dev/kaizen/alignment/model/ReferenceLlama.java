package dev.kaizen.alignment.model;

import java.util.Map;

import dev.kaizen.alignment.weights.Tensor;

/**
 * The Llama decoder written straight from the papers and modeling_llama.py in double precision
 * with plain arrays: one unpadded sequence, positions 0…n−1. Test-only; it checks the DJL forward.
 */
final class ReferenceLlama {

    private final LlamaConfig c;
    private final Map<String, Tensor> w;

    ReferenceLlama(LlamaConfig config, Map<String, Tensor> weights) {
        this.c = config;
        this.w = weights;
    }

    double[][] logits(int[] ids) {
        int n = ids.length;
        int hidden = c.hiddenSize();
        double[][] x = new double[n][];
        for (int t = 0; t < n; t++) {
            x[t] = row(w.get("model.embed_tokens.weight"), ids[t], hidden);
        }
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            double[][] attnIn = new double[n][];
            for (int t = 0; t < n; t++) {
                attnIn[t] = rmsNorm(x[t], w.get(p + "input_layernorm.weight"));
            }
            double[][] attn = attention(p, attnIn);
            for (int t = 0; t < n; t++) {
                add(x[t], linear(attn[t], p + "self_attn.o_proj"));
                double[] m = rmsNorm(x[t], w.get(p + "post_attention_layernorm.weight"));
                double[] gate = linear(m, p + "mlp.gate_proj");
                double[] up = linear(m, p + "mlp.up_proj");
                for (int i = 0; i < gate.length; i++) {
                    gate[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
                }
                add(x[t], linear(gate, p + "mlp.down_proj"));
            }
        }
        Tensor head = c.tieWordEmbeddings() ? w.get("model.embed_tokens.weight") : w.get("lm_head.weight");
        double[][] logits = new double[n][];
        for (int t = 0; t < n; t++) {
            logits[t] = matVec(head, rmsNorm(x[t], w.get("model.norm.weight")), null);
        }
        return logits;
    }

    private double[][] attention(String p, double[][] in) {
        int n = in.length;
        int d = c.headDim();
        int groups = c.numHeads() / c.numKvHeads();
        double[][] q = new double[n][];
        double[][] k = new double[n][];
        double[][] v = new double[n][];
        for (int t = 0; t < n; t++) {
            q[t] = rope(linear(in[t], p + "self_attn.q_proj"), t, c.numHeads());
            k[t] = rope(linear(in[t], p + "self_attn.k_proj"), t, c.numKvHeads());
            v[t] = linear(in[t], p + "self_attn.v_proj");
        }
        double[][] out = new double[n][c.numHeads() * d];
        for (int h = 0; h < c.numHeads(); h++) {
            int kvh = h / groups;
            for (int t = 0; t < n; t++) {
                int first = c.slidingWindow() == null ? 0 : Math.max(0, t - c.slidingWindow() + 1);
                double[] scores = new double[t + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int s = first; s <= t; s++) {
                    double dot = 0;
                    for (int i = 0; i < d; i++) {
                        dot += q[t][h * d + i] * k[s][kvh * d + i];
                    }
                    scores[s] = dot / Math.sqrt(d);
                    max = Math.max(max, scores[s]);
                }
                double sum = 0;
                for (int s = first; s <= t; s++) {
                    scores[s] = Math.exp(scores[s] - max);
                    sum += scores[s];
                }
                for (int s = first; s <= t; s++) {
                    for (int i = 0; i < d; i++) {
                        out[t][h * d + i] += scores[s] / sum * v[s][kvh * d + i];
                    }
                }
            }
        }
        return out;
    }

    /** Rotates each head's pairs (i, i + d/2) by position·θ_i, Llama 3 scaling included. */
    private double[] rope(double[] x, int position, int heads) {
        int d = c.headDim();
        double[] out = x.clone();
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < d / 2; i++) {
                double angle = position * frequency(i);
                double a = x[h * d + i];
                double b = x[h * d + i + d / 2];
                out[h * d + i] = a * Math.cos(angle) - b * Math.sin(angle);
                out[h * d + i + d / 2] = b * Math.cos(angle) + a * Math.sin(angle);
            }
        }
        return out;
    }

    private double frequency(int i) {
        double f = Math.pow(c.ropeTheta(), -2.0 * i / c.headDim());
        LlamaConfig.RopeScaling s = c.ropeScaling();
        if (s == null) {
            return f;
        }
        double wavelength = 2 * Math.PI / f;
        if (wavelength < s.originalMaxPositionEmbeddings() / s.highFreqFactor()) {
            return f;
        }
        if (wavelength > s.originalMaxPositionEmbeddings() / s.lowFreqFactor()) {
            return f / s.factor();
        }
        double smooth = (s.originalMaxPositionEmbeddings() / wavelength - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
        return (1 - smooth) * f / s.factor() + smooth * f;
    }

    private double[] rmsNorm(double[] x, Tensor weight) {
        double ms = 0;
        for (double v : x) {
            ms += v * v;
        }
        double scale = 1 / Math.sqrt(ms / x.length + c.rmsNormEps());
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * scale * weight.values()[i];
        }
        return out;
    }

    private double[] linear(double[] x, String name) {
        return matVec(w.get(name + ".weight"), x, w.get(name + ".bias"));
    }

    private static double[] matVec(Tensor weight, double[] x, Tensor bias) {
        int out = (int) weight.shape()[0];
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double sum = bias == null ? 0 : bias.values()[o];
            for (int i = 0; i < x.length; i++) {
                sum += weight.values()[o * x.length + i] * x[i];
            }
            y[o] = sum;
        }
        return y;
    }

    private static double[] row(Tensor t, int r, int width) {
        double[] out = new double[width];
        for (int i = 0; i < width; i++) {
            out[i] = t.values()[r * width + i];
        }
        return out;
    }

    private static void add(double[] into, double[] x) {
        for (int i = 0; i < into.length; i++) {
            into[i] += x[i];
        }
    }
}
