package dev.kaizen.alignment.generate;

import java.util.List;

/**
 * How to pick each next token: temperature 0 is greedy; otherwise logits/temperature, then
 * top-k (0 = off) and top-p (1 = off) filtering, sampled from a seeded generator.
 */
public record SamplingParams(int maxNewTokens, double temperature, int topK, double topP, long seed,
                             List<String> stop, boolean stopOnEos) {

    public SamplingParams {
        if (maxNewTokens < 1) {
            throw new IllegalArgumentException("max new tokens must be at least 1, not " + maxNewTokens);
        }
        if (temperature < 0 || Double.isNaN(temperature)) {
            throw new IllegalArgumentException("temperature must be 0 (greedy) or positive, not " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top-k must be 0 (off) or positive, not " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], not " + topP);
        }
        stop = List.copyOf(stop);
    }

    /** The same sampling with another length limit. */
    public SamplingParams withMaxNewTokens(int n) {
        return new SamplingParams(n, temperature, topK, topP, seed, stop, stopOnEos);
    }
}
