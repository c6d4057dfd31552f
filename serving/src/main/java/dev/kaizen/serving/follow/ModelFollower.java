package dev.kaizen.serving.follow;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import ai.djl.Device;

import dev.kaizen.alignment.generate.Generator;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.schemas.CheckpointFormat;
import dev.kaizen.schemas.ModelUpdate;

/**
 * Serving's model: the newest good version of one model in memory, kept so by a
 * {@link VersionFollower}. Each version is merged into a model of its own and swapped in
 * atomically; requests hold the version they started on ({@link #acquire()}) until they end.
 */
public final class ModelFollower implements AutoCloseable {

    /** The base model directory, what to follow, and where the models run. */
    public record Options(Path baseDir, VersionFollower.Options versions, Device device) {}

    private final Options options;
    private final ChatTokenizer tokenizer;
    private final LlamaForCausalLM base;
    private final AtomicReference<ServedModel> current = new AtomicReference<>();
    private VersionFollower follower;

    private ModelFollower(Options options) {
        this.options = options;
        this.tokenizer = ChatTokenizer.load(options.baseDir());
        // The base merges adapters on the follower thread only; version 0 is served by its own copy.
        this.base = LlamaForCausalLM.load(options.baseDir(), options.device());
        current.set(served(0, null, LlamaForCausalLM.load(options.baseDir(), options.device())));
    }

    /** Loads the latest good version announced so far, then keeps following. */
    public static ModelFollower start(Options options) {
        ModelFollower model = new ModelFollower(options);
        try {
            model.follower = VersionFollower.start(options.versions(), model.new Swap());
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        return model;
    }

    /** The version serving now, held for the caller until {@link ServedModel#release()}. */
    public ServedModel acquire() {
        while (true) {
            ServedModel served = current.get();
            if (served.acquire()) {
                return served;
            }
        }
    }

    /** The version serving now: what a request starting now would run on. */
    public long version() {
        return current.get().version();
    }

    public ChatTokenizer tokenizer() {
        return tokenizer;
    }

    public String modelId() {
        return options.versions().modelId();
    }

    /** How many tokens, prompt and answer together, the model can attend to. */
    public int contextLength() {
        return base.config().maxPositionEmbeddings();
    }

    public List<ModelUpdate> announced() {
        return follower.announced();
    }

    public Map<String, Long> refusals() {
        return follower.refusals();
    }

    /** The candidates the job's release gate refused (when the rejections topic is followed). */
    public List<ModelUpdate> refusedCandidates() {
        return follower.refusedCandidates();
    }

    public long swaps() {
        return follower.applied();
    }

    /** Builds each verified version into a model of its own and swaps it in. */
    private final class Swap implements VersionFollower.Target {
        @Override
        public long version() {
            return ModelFollower.this.version();
        }

        @Override
        public void apply(ModelUpdate update, Path dir) {
            LlamaForCausalLM model;
            if (update.getFormat() == CheckpointFormat.FULL) {
                model = LlamaForCausalLM.load(dir, options.device());
            } else {
                // Merged once here, so answers run at the base model's speed with no adapter branch.
                try (LoraAdapter adapter = LoraAdapter.load(base, dir)) {
                    model = LlamaForCausalLM.fromTensors(base.config(), adapter.mergedTensors(), options.device());
                }
            }
            current.getAndSet(served(update.getVersion(), update, model)).release();
        }
    }

    private ServedModel served(long version, ModelUpdate update, LlamaForCausalLM model) {
        return new ServedModel(version, update, model, new Generator(model, tokenizer));
    }

    @Override
    public void close() {
        if (follower != null) {
            follower.close();
        }
        ServedModel last = current.getAndSet(null);
        if (last != null) {
            last.release();
        }
        base.close();
        tokenizer.close();
    }
}
