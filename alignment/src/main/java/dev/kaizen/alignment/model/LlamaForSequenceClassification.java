package dev.kaizen.alignment.model;

import java.nio.file.Path;
import java.util.Map;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

import dev.kaizen.alignment.weights.Dtype;
import dev.kaizen.alignment.weights.Tensor;

/**
 * Hugging Face's {@code LlamaForSequenceClassification}: the decoder and its {@code score} head, a
 * reward model (one label) or a value model (the same head read at every token).
 */
public final class LlamaForSequenceClassification extends LlamaPreTrainedModel {

    private final Linear score;

    LlamaForSequenceClassification(LlamaConfig config, NDManager manager, Map<String, NDArray> parameters, Map<String, Dtype> storedAs) {
        super(config, manager, parameters, storedAs);
        this.score = new Linear("score", parameters.get("score.weight"), null);
    }

    /** Loads a Hugging Face directory of a *ForSequenceClassification model; a causal language model is refused. */
    public static LlamaForSequenceClassification load(Path dir, Device device) {
        return expect(LlamaForSequenceClassification.class, fromPretrained(dir, device), dir,
                "a reward model (*ForSequenceClassification)");
    }

    /** A classifier from tensors already in memory (named and shaped as {@link #expectedShapes}). */
    public static LlamaForSequenceClassification fromTensors(LlamaConfig config, Map<String, Tensor> tensors, Device device) {
        if (!config.sequenceClassification()) {
            throw new IllegalArgumentException("a " + config.architecture() + " has no score head");
        }
        return (LlamaForSequenceClassification) LlamaPreTrainedModel.fromTensors(config, tensors, device);
    }

    /**
     * Rewards [B, num_labels] of a right-padded batch, read from each row's last real token as
     * Hugging Face's *ForSequenceClassification does. Differentiable.
     */
    public NDArray rewards(NDArray inputIds, NDArray attentionMask) {
        NDArray hidden = model().forward(inputIds, attentionMask, null);
        NDArray mask = attentionMask.toType(DataType.FLOAT32, false);
        // One-hot at position length−1 of each row: the last token that is not padding.
        NDArray last = mask.sub(NDArrays.concat(new NDList(mask.get(":, 1:"), mask.get(":, :1").zerosLike()), 1));
        return score.forward(hidden.mul(last.expandDims(-1)).sum(new int[] {1}));
    }

    /**
     * The score head read at every position [B, T], of a model with one label: a value model's
     * per-token values, as TRL reads them for PPO. Differentiable.
     */
    public NDArray tokenScores(NDArray inputIds, NDArray attentionMask) {
        if (config().numLabels() != 1) {
            throw new IllegalStateException("per-token values need a score head with one label; this one has " + config().numLabels());
        }
        return score.forward(model().forward(inputIds, attentionMask, null)).squeeze(-1);
    }
}
