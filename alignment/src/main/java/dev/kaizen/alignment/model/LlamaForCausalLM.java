package dev.kaizen.alignment.model;

import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import dev.kaizen.alignment.weights.Dtype;
import dev.kaizen.alignment.weights.Tensor;

/** Hugging Face's {@code LlamaForCausalLM}: the decoder and its language-model head ({@code lm_head}, or the tied embeddings). */
public final class LlamaForCausalLM extends LlamaPreTrainedModel {

    private final Linear lmHead;

    LlamaForCausalLM(LlamaConfig config, NDManager manager, Map<String, NDArray> parameters, Map<String, Dtype> storedAs) {
        super(config, manager, parameters, storedAs);
        this.lmHead = new Linear("lm_head", config.tieWordEmbeddings() ? model().embedTokens() : parameters.get("lm_head.weight"), null);
    }

    /** Loads a Hugging Face directory of a causal language model; a directory of another head is refused. */
    public static LlamaForCausalLM load(Path dir, Device device) {
        return expect(LlamaForCausalLM.class, fromPretrained(dir, device), dir, "a causal language model (*ForCausalLM)");
    }

    /** A causal language model from tensors already in memory (named and shaped as {@link #expectedShapes}). */
    public static LlamaForCausalLM fromTensors(LlamaConfig config, Map<String, Tensor> tensors, Device device) {
        if (config.sequenceClassification()) {
            throw new IllegalArgumentException("a " + config.architecture() + " has a score head, not a language-model head");
        }
        return (LlamaForCausalLM) LlamaPreTrainedModel.fromTensors(config, tensors, device);
    }

    /**
     * Logits [B, T, vocab] for token ids [B, T]; the mask and cache as {@link LlamaModel#forward}
     * takes them.
     */
    public NDArray forward(NDArray inputIds, NDArray attentionMask, KvCache cache) {
        return head(model().forward(inputIds, attentionMask, cache));
    }

    /** Logits [..., vocab] for final hidden states [..., hidden]: the head alone, for the positions a caller picked. */
    public NDArray head(NDArray hidden) {
        return lmHead.forward(hidden);
    }

    /**
     * A reward model made from this causal model: the same decoder weights, and HF's score head
     * initialised N(0, 0.02²) as transformers initialises it. This model is left as it is.
     */
    public LlamaForSequenceClassification toRewardModel(long seed) {
        Map<String, Tensor> tensors = tensors();
        tensors.remove("lm_head.weight");
        float[] score = new float[config().hiddenSize()];
        Random random = new Random(seed);
        for (int i = 0; i < score.length; i++) {
            score[i] = (float) (random.nextGaussian() * 0.02);
        }
        tensors.put("score.weight", new Tensor(Dtype.F32, new long[] {1, config().hiddenSize()}, score));
        return LlamaForSequenceClassification.fromTensors(config().asRewardModel(), tensors, manager().getDevice());
    }
}
