package dev.kaizen.alignment.train;

import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.Map;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

import dev.kaizen.alignment.model.NoGrad;

/**
 * Adam with decoupled weight decay (Loshchilov & Hutter), with global-norm gradient clipping. Its
 * moments live in a manager of their own, outside every step's scope, so they persist across steps.
 */
public final class AdamW implements AutoCloseable {

    public record Config(double beta1, double beta2, double eps, double weightDecay, double maxGradNorm) {
        /** transformers' TrainingArguments defaults. */
        public static Config defaults() {
            return new Config(0.9, 0.999, 1e-8, 0.0, 1.0);
        }
    }

    /**
     * Every value the optimizer and its parameters hold, on the heap: what a guard restores when it
     * drops a step, and (moments and step count) what a checkpoint keeps so training resumes exactly.
     */
    public record State(Map<String, float[]> params, Map<String, float[]> expAvg, Map<String, float[]> expAvgSq, long steps) {}

    /**
     * The most elements one update works on at once: 4 MiB of float32, so a slice's dozen passes
     * over its five arrays read them from cache (twice as fast as slices of 16 MiB on 2 cores).
     */
    private static final long SLICE_ELEMENTS = 1L << 20;

    private final Map<String, NDArray> params;
    private final Config config;
    private final NDManager state;
    private final Map<String, NDArray> m = new LinkedHashMap<>();
    private final Map<String, NDArray> v = new LinkedHashMap<>();
    private long steps;

    public AdamW(Map<String, NDArray> params, Config config) {
        this.params = Map.copyOf(params);
        this.config = config;
        this.state = params.values().iterator().next().getManager().newSubManager();
        params.forEach((name, p) -> {
            p.setRequiresGradient(true);
            m.put(name, state.zeros(p.getShape()));
            v.put(name, state.zeros(p.getShape()));
        });
    }

    /**
     * Clips the accumulated gradients to the configured global norm, applies one update at learning
     * rate {@code lr} and zeroes the gradients. Returns the global gradient norm before clipping.
     */
    public double step(double lr) {
        // Results of ops on the moments attach to their long-lived manager; a scope per update frees
        // its temporaries before the next, so a step holds one slice's, not the model's.
        try (NoGrad noGrad = NoGrad.enter(); NDManager scratch = state.newSubManager()) {
            Map<String, NDArray> grads = new LinkedHashMap<>();
            double squares = 0;
            for (var e : params.entrySet()) {
                NDArray g = e.getValue().getGradient();
                g.attach(scratch);
                grads.put(e.getKey(), g);
                try (NDScope scope = new NDScope()) {
                    double n = g.norm().getFloat();
                    squares += n * n;
                }
            }
            double norm = Math.sqrt(squares);
            if (!Double.isFinite(norm)) {
                zeroGradients();
                throw new NonFiniteGradientException(norm);
            }
            float clip = config.maxGradNorm() > 0 && norm > config.maxGradNorm() ? (float) (config.maxGradNorm() / (norm + 1e-6)) : 1f;
            steps++;
            double bias1 = 1 - Math.pow(config.beta1(), steps);
            double bias2 = 1 - Math.pow(config.beta2(), steps);
            float stepSize = (float) (lr / bias1);
            float rootBias2 = (float) Math.sqrt(bias2);
            for (var e : params.entrySet()) {
                NDArray p = e.getValue();
                NDArray g = grads.get(e.getKey());
                NDArray mt = m.get(e.getKey());
                NDArray vt = v.get(e.getKey());
                long rows = p.getShape().get(0);
                long perSlice = Math.max(1, SLICE_ELEMENTS / (p.size() / rows));
                // A large parameter (the tied embeddings are a fifth of a small model) goes in slices
                // of rows, views updated in place: its temporaries are a slice's, not the parameter's.
                for (long from = 0; from < rows; from += perSlice) {
                    String slice = from + ":" + Math.min(rows, from + perSlice);
                    try (NDScope scope = new NDScope()) {
                        update(p.get(slice), g.get(slice), mt.get(slice), vt.get(slice), clip, lr, stepSize, rootBias2);
                    }
                }
                JniUtils.zeroGrad((PtNDArray) p);
            }
            return norm;
        }
    }

    /** Drops the accumulated gradients without an update. */
    void zeroGradients() {
        params.values().forEach(p -> JniUtils.zeroGrad((PtNDArray) p));
    }

    /**
     * One Adam update of a parameter (or a slice of it: views, changed in place). In place wherever
     * the math allows, and every scalar folded into another pass (the clip into the moments'
     * coefficients, √(1 − β₂ᵗ) into ε and the step size): with full fine-tuning the update is the
     * largest cost outside the model, a dozen passes over its parameter; it holds two temporaries
     * the size of what it updates.
     */
    private void update(NDArray p, NDArray g, NDArray mt, NDArray vt, float clip, double lr, float stepSize, float rootBias2) {
        // m ← β₁m + (1 − β₁)·c·g and v ← β₂v + (1 − β₂)·c²·g², c the clipping factor
        try (NDArray scaled = g.mul((float) ((1 - config.beta1()) * clip))) {
            mt.muli((float) config.beta1()).addi(scaled);
        }
        vt.muli((float) config.beta2()).addi(g.muli(g).muli((float) ((1 - config.beta2()) * clip * clip)));
        // (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε) = (stepSize · rootBias2) · m / (√v + ε · rootBias2)
        NDArray denominator = vt.sqrt().addi((float) (config.eps() * rootBias2));
        NDArray update = mt.div(denominator).muli(stepSize * rootBias2);
        denominator.close();
        if (config.weightDecay() > 0) {
            p.muli((float) (1 - lr * config.weightDecay()));
        }
        p.subi(update);
    }

    public long steps() {
        return steps;
    }

    public State state() {
        return new State(values(params), values(m), values(v), steps);
    }

    /** Puts every value of {@code s} back in place; the arrays keep their identity, so the model still holds them. */
    public void restore(State s) {
        try (NoGrad noGrad = NoGrad.enter()) {
            if (s.params() != null) {
                overwrite(params, s.params());
            }
            overwrite(m, s.expAvg());
            overwrite(v, s.expAvgSq());
        }
        steps = s.steps();
    }

    private static Map<String, float[]> values(Map<String, NDArray> arrays) {
        Map<String, float[]> out = new LinkedHashMap<>();
        arrays.forEach((name, a) -> out.put(name, a.toFloatArray()));
        return out;
    }

    private static void overwrite(Map<String, NDArray> arrays, Map<String, float[]> values) {
        if (!arrays.keySet().equals(values.keySet())) {
            throw new IllegalArgumentException("optimizer state for " + values.keySet() + " does not match the parameters " + arrays.keySet());
        }
        arrays.forEach((name, a) -> {
            float[] x = values.get(name);
            if (x.length != a.size()) {
                throw new IllegalArgumentException("optimizer state for " + name + " has " + x.length + " values, the parameter " + a.size());
            }
            a.set(FloatBuffer.wrap(x));
        });
    }

    @Override
    public void close() {
        state.close();
    }
}
