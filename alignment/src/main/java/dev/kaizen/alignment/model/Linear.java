package dev.kaizen.alignment.model;

import ai.djl.ndarray.NDArray;

/**
 * A projection y = x·Wᵀ + b, with W [out, in] as Hugging Face stores it, named as its module
 * (e.g. model.layers.0.self_attn.q_proj) so an adapter can attach to it.
 */
public final class Linear {

    private final String name;
    private final NDArray weight;
    private final NDArray bias;
    private LoraAdapter.Module lora;

    Linear(String name, NDArray weight, NDArray bias) {
        this.name = name;
        this.weight = weight;
        this.bias = bias;
    }

    public NDArray forward(NDArray x) {
        NDArray y = ai.djl.nn.core.Linear.linear(x, weight, bias).singletonOrThrow();
        return lora == null ? y : lora.apply(x, y);
    }

    String name() {
        return name;
    }

    NDArray weight() {
        return weight;
    }

    void attach(LoraAdapter.Module module) {
        if (module != null && lora != null) {
            throw new IllegalStateException(name + " already has an adapter");
        }
        this.lora = module;
    }
}
