package dev.kaizen.alignment.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;

/**
 * Keys, values and attention mask of the tokens seen so far, for generation one step at a time.
 * Its arrays outlive each step's {@link NDScope}: they are taken out of the scope and owned by
 * the cache's own manager, and the previous step's copies are freed.
 */
public final class KvCache implements AutoCloseable {

    private final NDManager manager;
    private final Layer[] layers;
    private NDArray mask;

    public KvCache(NDManager parent, int numLayers) {
        this.manager = parent.newSubManager();
        this.layers = new Layer[numLayers];
        for (int i = 0; i < numLayers; i++) {
            layers[i] = new Layer();
        }
    }

    /** How many positions (padding included) are cached. */
    public long length() {
        return mask == null ? 0 : mask.getShape().get(1);
    }

    Layer layer(int i) {
        return layers[i];
    }

    /** Appends this step's [B, T] mask and returns the whole [B, past + T] mask. */
    NDArray extendMask(NDArray step) {
        mask = replace(mask, mask == null ? step : NDArrays.concat(new NDList(mask, step), 1));
        return mask;
    }

    private NDArray replace(NDArray old, NDArray fresh) {
        NDScope.unregister(fresh);
        fresh.attach(manager);
        if (old != null && old != fresh) {
            old.close();
        }
        return fresh;
    }

    @Override
    public void close() {
        manager.close();
    }

    /** One decoder layer's keys and values, [B, kvHeads, S, headDim]. */
    final class Layer {
        private NDArray keys;
        private NDArray values;

        NDArray[] append(NDArray k, NDArray v) {
            keys = replace(keys, keys == null ? k : NDArrays.concat(new NDList(keys, k), 2));
            values = replace(values, values == null ? v : NDArrays.concat(new NDList(values, v), 2));
            return new NDArray[] {keys, values};
        }
    }
}
