package dev.kaizen.alignment.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.Dropout;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.kaizen.alignment.weights.Dtype;
import dev.kaizen.alignment.weights.SafetensorsFile;
import dev.kaizen.alignment.weights.SafetensorsWriter;
import dev.kaizen.alignment.weights.Tensor;

/**
 * LoRA on a model's projections: each targeted W gains (alpha/r)·B·A, A [r, in] and B [out, r],
 * B starting at zero. Switched off, the model is exactly its base, which is how Kaizen gets the
 * reference policy without a second copy of the weights. Saved as a PEFT adapter directory.
 */
public final class LoraAdapter implements AutoCloseable {

    public static final List<String> ALL_TARGETS = List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");
    public static final String CONFIG_FILE = "adapter_config.json";
    public static final String WEIGHTS_FILE = "adapter_model.safetensors";
    private static final String PEFT_PREFIX = "base_model.model.";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** rank r, lora_alpha, lora_dropout and target_modules, as PEFT's LoraConfig names them. */
    public record Config(int rank, double alpha, double dropout, List<String> targetModules) {
        public Config {
            if (rank < 1) {
                throw new IllegalArgumentException("LoRA rank must be at least 1, not " + rank);
            }
            if (!(dropout >= 0 && dropout < 1)) {
                throw new IllegalArgumentException("LoRA dropout must be in [0, 1), not " + dropout);
            }
            if (!ALL_TARGETS.containsAll(targetModules) || targetModules.isEmpty()) {
                throw new IllegalArgumentException("LoRA targets must be among " + ALL_TARGETS + ", not " + targetModules);
            }
            targetModules = List.copyOf(targetModules);
        }

        double scale() {
            return alpha / rank;
        }
    }

    private final LlamaPreTrainedModel model;
    private final Config config;
    private final NDManager manager;
    private final Map<String, Module> modules = new LinkedHashMap<>();
    private boolean enabled = true;
    private boolean training;

    private LoraAdapter(LlamaPreTrainedModel model, Config config) {
        this.model = model;
        this.config = config;
        this.manager = model.manager().newSubManager();
    }

    /** A fresh adapter: A from PEFT's default (Kaiming-uniform, a = √5, i.e. U(±1/√in)), B zero. */
    public static LoraAdapter attach(LlamaPreTrainedModel model, Config config, long seed) {
        LoraAdapter adapter = new LoraAdapter(model, config);
        Random random = new Random(seed);
        adapter.build((name, linear) -> {
            long[] w = linear.weight().getShape().getShape();
            float bound = (float) (1 / Math.sqrt(w[1]));
            float[] a = new float[(int) (config.rank() * w[1])];
            for (int i = 0; i < a.length; i++) {
                a[i] = (random.nextFloat() * 2 - 1) * bound;
            }
            return new NDArray[] {adapter.manager.create(a, new Shape(config.rank(), w[1])),
                    adapter.manager.zeros(new Shape(w[0], config.rank()))};
        });
        return adapter;
    }

    /** The PEFT adapter directory {@code dir} on {@code model}. */
    public static LoraAdapter load(LlamaPreTrainedModel model, Path dir) {
        Path configFile = dir.resolve(CONFIG_FILE);
        Config config;
        try {
            JsonNode json = JSON.readTree(Files.readString(configFile));
            if (!"LORA".equals(json.path("peft_type").asText())) {
                throw new ModelDirectoryException(configFile, "peft_type is '" + json.path("peft_type").asText() + "', not LORA");
            }
            List<String> targets = new ArrayList<>();
            json.path("target_modules").forEach(t -> targets.add(t.asText()));
            config = new Config(json.path("r").asInt(), json.path("lora_alpha").asDouble(), json.path("lora_dropout").asDouble(0), targets);
        } catch (IOException e) {
            throw new ModelDirectoryException(configFile, "cannot be read as JSON: " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new ModelDirectoryException(configFile, e.getMessage(), e);
        }
        LoraAdapter adapter = new LoraAdapter(model, config);
        try (SafetensorsFile weights = SafetensorsFile.open(dir.resolve(WEIGHTS_FILE))) {
            adapter.build((name, linear) -> new NDArray[] {
                    adapter.read(weights, name + ".lora_A.weight", new long[] {config.rank(), linear.weight().getShape().get(1)}),
                    adapter.read(weights, name + ".lora_B.weight", new long[] {linear.weight().getShape().get(0), config.rank()})});
        } catch (RuntimeException e) {
            adapter.close();
            throw e;
        }
        return adapter;
    }

    private NDArray read(SafetensorsFile weights, String module, long[] shape) {
        String name = PEFT_PREFIX + module;
        if (!weights.entries().containsKey(name)) {
            throw new ModelDirectoryException(weights.path(), "has no tensor " + name);
        }
        if (!java.util.Arrays.equals(weights.entries().get(name).shape(), shape)) {
            throw new ModelDirectoryException(weights.path(), "tensor " + name + " has shape "
                    + java.util.Arrays.toString(weights.entries().get(name).shape()) + ", the model needs " + java.util.Arrays.toString(shape));
        }
        return weights.toNDArray(name, manager);
    }

    private void build(java.util.function.BiFunction<String, Linear, NDArray[]> init) {
        for (var e : model.projections().entrySet()) {
            String kind = e.getKey().substring(e.getKey().lastIndexOf('.') + 1);
            if (config.targetModules().contains(kind)) {
                NDArray[] ab = init.apply(e.getKey(), e.getValue());
                Module module = new Module(ab[0], ab[1]);
                modules.put(e.getKey(), module);
                e.getValue().attach(module);
            }
        }
    }

    public Config config() {
        return config;
    }

    /** The trainable arrays under PEFT's tensor names. */
    public Map<String, NDArray> parameters() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        modules.forEach((name, m) -> {
            out.put(PEFT_PREFIX + name + ".lora_A.weight", m.a);
            out.put(PEFT_PREFIX + name + ".lora_B.weight", m.b);
        });
        return out;
    }

    /** Dropout applies only while training. */
    public void setTraining(boolean training) {
        this.training = training;
    }

    /** A scope whose close cannot fail. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /** Switches the adapter off until the returned scope is closed: the model is then its base. */
    public Scope disabled() {
        enabled = false;
        return () -> enabled = true;
    }

    public void save(Path dir, String baseModel) throws IOException {
        Files.createDirectories(dir);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        parameters().forEach((name, array) -> tensors.put(name, new Tensor(Dtype.F32, array.getShape().getShape(), array.toFloatArray())));
        SafetensorsWriter.write(dir.resolve(WEIGHTS_FILE), tensors, Map.of("format", "pt"));
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("peft_type", "LORA");
        json.put("task_type", "CAUSAL_LM");
        json.put("base_model_name_or_path", baseModel);
        json.put("r", config.rank());
        json.put("lora_alpha", config.alpha());
        json.put("lora_dropout", config.dropout());
        json.put("target_modules", config.targetModules());
        json.put("bias", "none");
        json.put("fan_in_fan_out", false);
        json.put("inference_mode", true);
        json.put("init_lora_weights", true);
        json.put("modules_to_save", null);
        json.put("use_rslora", false);
        json.put("use_dora", false);
        Files.writeString(dir.resolve(CONFIG_FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(json) + "\n");
    }

    /** The base weights with every adapter's (alpha/r)·B·A added, as Hugging Face tensors in the base's dtypes. */
    public Map<String, Tensor> mergedTensors() {
        Map<String, Tensor> tensors = model.tensors();
        modules.forEach((name, m) -> {
            Tensor base = tensors.get(name + ".weight");
            float[] delta;
            try (NoGrad noGrad = NoGrad.enter(); NDManager scratch = manager.newSubManager()) {
                NDArray product = m.b.matMul(m.a);
                product.attach(scratch);
                delta = product.mul(Scalar.of(product, config.scale())).toFloatArray();
            }
            float[] merged = base.values().clone();
            for (int i = 0; i < merged.length; i++) {
                merged[i] += delta[i];
            }
            tensors.put(name + ".weight", new Tensor(base.dtype(), base.shape(), merged));
        });
        return tensors;
    }

    @Override
    public void close() {
        model.projections().values().forEach(linear -> linear.attach(null));
        manager.close();
    }

    /** One projection's A and B. */
    final class Module {
        private final NDArray a;
        private final NDArray b;

        Module(NDArray a, NDArray b) {
            this.a = a;
            this.b = b;
        }

        NDArray apply(NDArray x, NDArray y) {
            if (!enabled) {
                return y;
            }
            NDArray in = training && config.dropout() > 0
                    ? Dropout.dropout(x, (float) config.dropout(), true).singletonOrThrow() : x;
            // Scaled while it is rank wide, not once it is as wide as y; in place: a linear's backward
            // reads its input, never its output, so neither product is needed as it was.
            NDArray low = ai.djl.nn.core.Linear.linear(in, a).singletonOrThrow().muli(Scalar.of(x, config.scale()));
            return y.addi(ai.djl.nn.core.Linear.linear(low, b).singletonOrThrow());
        }
    }
}
