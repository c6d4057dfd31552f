package dev.kaizen.alignment.generate;

import java.util.Arrays;
import java.util.Random;

/** Picks the next token id from one position's logits, as Hugging Face's warpers do. */
public final class Sampler {

    private Sampler() {}

    public static int next(float[] logits, SamplingParams p, Random random) {
        if (p.temperature() == 0) {
            return argmax(logits);
        }
        int n = logits.length;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
        int keep = p.topK() > 0 ? Math.min(p.topK(), n) : n;
        double max = logits[order[0]] / p.temperature();
        double[] weights = new double[keep];
        double total = 0;
        for (int i = 0; i < keep; i++) {
            weights[i] = Math.exp(logits[order[i]] / p.temperature() - max);
            total += weights[i];
        }
        // Nucleus: the smallest head of the sorted distribution whose mass reaches top-p (at least one token).
        if (p.topP() < 1) {
            double mass = 0;
            int cut = 0;
            while (cut < keep && mass < p.topP() * total) {
                mass += weights[cut++];
            }
            keep = Math.max(1, cut);
            total = mass;
        }
        double r = random.nextDouble() * total;
        for (int i = 0; i < keep; i++) {
            r -= weights[i];
            if (r < 0) {
                return order[i];
            }
        }
        return order[keep - 1];
    }

    static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }
}
