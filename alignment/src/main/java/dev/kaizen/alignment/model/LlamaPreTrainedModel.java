package dev.kaizen.alignment.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Function;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import dev.kaizen.alignment.weights.Dtype;
import dev.kaizen.alignment.weights.ModelWeights;
import dev.kaizen.alignment.weights.Tensor;

/**
 * What Hugging Face's {@code LlamaPreTrainedModel} gives both heads: the weights as DJL arrays
 * under their Hugging Face names, loading and saving a model directory, and the decoder
 * ({@link LlamaModel}). config.json's architecture says which head a directory holds.
 */
public abstract sealed class LlamaPreTrainedModel implements AutoCloseable permits LlamaForCausalLM, LlamaForSequenceClassification {

    private final LlamaConfig config;
    private final NDManager manager;
    private final Map<String, NDArray> parameters;
    private final Map<String, Dtype> storedAs;
    private final LlamaModel model;

    LlamaPreTrainedModel(LlamaConfig config, NDManager manager, Map<String, NDArray> parameters, Map<String, Dtype> storedAs) {
        this.config = config;
        this.manager = manager;
        this.parameters = parameters;
        this.storedAs = storedAs;
        this.model = new LlamaModel(config, parameters);
    }

    /** Every tensor the config implies, decoder and head, by Hugging Face name, with its shape. */
    public static Map<String, long[]> expectedShapes(LlamaConfig c) {
        Map<String, long[]> shapes = LlamaModel.expectedShapes(c);
        if (c.sequenceClassification()) {
            shapes.put("score.weight", new long[] {c.numLabels(), c.hiddenSize()});
        } else if (!c.tieWordEmbeddings()) {
            shapes.put("lm_head.weight", new long[] {c.vocabSize(), c.hiddenSize()});
        }
        return shapes;
    }

    /** Loads config.json and the safetensors weights of a Hugging Face model directory, with the head its config names. */
    public static LlamaPreTrainedModel fromPretrained(Path dir, Device device) {
        LlamaConfig config = LlamaConfig.read(dir.resolve("config.json"));
        try (ModelWeights weights = ModelWeights.open(dir)) {
            for (var e : expectedShapes(config).entrySet()) {
                if (!weights.names().contains(e.getKey())) {
                    throw new ModelDirectoryException(weights.source(), "has no tensor " + e.getKey() + ", which config.json ("
                            + config.architecture() + ", " + config.numLayers() + " layers) requires");
                }
                long[] actual = weights.entry(e.getKey()).shape();
                if (!Arrays.equals(actual, e.getValue())) {
                    throw new ModelDirectoryException(weights.fileOf(e.getKey()), "tensor " + e.getKey() + " has shape "
                            + Arrays.toString(actual) + " but config.json implies " + Arrays.toString(e.getValue()));
                }
            }
            return build(config, device, weights::toNDArray, name -> weights.entry(name).dtype());
        }
    }

    /** {@code loaded} as the head a caller needs, or refused naming what the directory holds. */
    static <M extends LlamaPreTrainedModel> M expect(Class<M> head, LlamaPreTrainedModel loaded, Path dir, String needed) {
        if (head.isInstance(loaded)) {
            return head.cast(loaded);
        }
        loaded.close();
        throw new ModelDirectoryException(dir.resolve("config.json"), "names " + loaded.config().architecture() + "; " + needed
                + " is needed here");
    }

    /** A model from tensors already in memory (named and shaped as {@link #expectedShapes}), with the head its config names. */
    public static LlamaPreTrainedModel fromTensors(LlamaConfig config, Map<String, Tensor> tensors, Device device) {
        expectedShapes(config).forEach((name, shape) -> {
            Tensor t = tensors.get(name);
            if (t == null || !Arrays.equals(t.shape(), shape)) {
                throw new IllegalArgumentException("tensor " + name + " is missing or misshapen");
            }
        });
        return build(config, device, (name, manager) -> manager.create(tensors.get(name).values(),
                new Shape(tensors.get(name).shape())), name -> tensors.get(name).dtype());
    }

    private static LlamaPreTrainedModel build(LlamaConfig config, Device device, BiFunction<String, NDManager, NDArray> source,
                                              Function<String, Dtype> dtype) {
        NDManager manager = NDManager.newBaseManager(device);
        Map<String, NDArray> parameters = new LinkedHashMap<>();
        Map<String, Dtype> storedAs = new LinkedHashMap<>();
        try {
            for (String name : expectedShapes(config).keySet()) {
                NDArray array = source.apply(name, manager);
                array.setName(name);
                parameters.put(name, array);
                storedAs.put(name, dtype.apply(name));
            }
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
        return config.sequenceClassification() ? new LlamaForSequenceClassification(config, manager, parameters, storedAs)
                : new LlamaForCausalLM(config, manager, parameters, storedAs);
    }

    public LlamaConfig config() {
        return config;
    }

    public NDManager manager() {
        return manager;
    }

    /** The decoder both heads read. */
    public LlamaModel model() {
        return model;
    }

    /** The weights under their Hugging Face names, in checkpoint order. */
    public Map<String, NDArray> parameters() {
        return Collections.unmodifiableMap(parameters);
    }

    /** The attention and MLP projections by Hugging Face module name, for adapters. */
    Map<String, Linear> projections() {
        return model.projections();
    }

    /** The weights as tensors, each in the dtype it was loaded from. */
    public Map<String, Tensor> tensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        parameters.forEach((name, array) -> out.put(name,
                new Tensor(storedAs.get(name), array.getShape().getShape(), array.toFloatArray())));
        return out;
    }

    /** Writes config.json and the weights (sharded past {@code maxShardBytes}) into {@code dir}. */
    public void save(Path dir, long maxShardBytes) throws IOException {
        ModelWeights.write(dir, tensors(), maxShardBytes);
        config.write(dir.resolve("config.json"));
    }

    @Override
    public void close() {
        manager.close();
    }
}
