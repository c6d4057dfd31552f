package dev.kaizen.serving.follow;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.DoubleConsumer;

import ai.djl.Device;

import dev.kaizen.alignment.generate.Generator;
import dev.kaizen.alignment.generate.SamplingParams;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.alignment.tokenize.Prompt;
import dev.kaizen.schemas.CheckpointFormat;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.serving.api.ApiError;
import dev.kaizen.serving.api.ChatBackend;
import dev.kaizen.serving.api.ChatRequest;

/**
 * Serving's model: the promoted release of one model in memory and, during a canary trial, the
 * candidate beside it, kept so by a {@link VersionFollower}. Each version is merged into a model
 * of its own and swapped in atomically; a request is routed to one of them by {@link CanaryRouting}
 * and holds it ({@link #acquire(String)}) until it ends. As the chat API's backend it answers with
 * its own generator.
 */
public final class ModelFollower implements ChatBackend {

    /** The base model directory, what to follow, where the models run, and the share of conversations a candidate answers. */
    public record Options(Path baseDir, VersionFollower.Options versions, Device device, double canaryFraction) {

        public static final double DEFAULT_CANARY_FRACTION = 0.1;

        public Options(Path baseDir, VersionFollower.Options versions, Device device) {
            this(baseDir, versions, device, DEFAULT_CANARY_FRACTION);
        }
    }

    /**
     * No token of the tokenizers we load spans more characters than this, so a prompt longer than
     * the context times this cannot fit, and is refused before any time is spent tokenizing it.
     */
    public static final int MAX_CHARS_PER_TOKEN = 32;

    private final Options options;
    private final ChatTokenizer tokenizer;
    private final LlamaForCausalLM base;
    private final AtomicReference<ServedModel> current = new AtomicReference<>();
    private final AtomicReference<ServedModel> candidate = new AtomicReference<>();
    private final FirstServed firstServed = new FirstServed();
    private final CanaryRouting routing;
    private VersionFollower follower;

    private ModelFollower(Options options) {
        this.options = options;
        this.routing = new CanaryRouting(options.canaryFraction());
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

    /**
     * The version that answers {@code user} (null: a request without one), held for the caller
     * until {@link ServedModel#release()}: the candidate for the canary share, else the promoted release.
     */
    public ServedModel acquire(String user) {
        while (true) {
            ServedModel trial = candidate.get();
            ServedModel served = trial != null && routing.toCandidate(user, trial.version()) ? trial : current.get();
            if (served.acquire()) {
                return served;
            }
        }
    }

    /**
     * The version a request names, held for the caller, if it is in service here (promoted or
     * candidate); null if not.
     */
    public ServedModel acquireVersion(long version) {
        for (AtomicReference<ServedModel> slot : List.of(current, candidate)) {
            ServedModel served = slot.get();
            if (served != null && served.version() == version && served.acquire()) {
                return served;
            }
        }
        return null;
    }

    /** Refuses up front what cannot fit the context, tokenizes the prompt and holds the version that answers it. */
    @Override
    public Turn begin(ChatRequest request) {
        long characters = request.messages().stream().mapToLong(m -> m.content().length()).sum();
        if (characters > (long) contextLength() * MAX_CHARS_PER_TOKEN) {
            throw new ApiError(413, "invalid_request_error", "messages", "context_length_exceeded", "the prompt has " + characters
                    + " characters, more than a context of " + contextLength() + " tokens can hold");
        }
        OptionalLong named = request.version(modelId());
        ServedModel served = named.isPresent() ? acquireVersion(named.getAsLong()) : acquire(request.user());
        if (served == null) {
            throw new ApiError(404, "invalid_request_error", "model", "model_not_found", request.model() + " is not in service here; "
                    + "it serves " + ChatBackend.versionName(modelId(), version()) + (candidateVersion() == VersionFollower.NO_CANDIDATE
                    ? "" : " and " + ChatBackend.versionName(modelId(), candidateVersion())));
        }
        try {
            int[] prompt = tokenizer.encodePrompt(Prompt.chat(request.messages()));
            int room = contextLength() - prompt.length;
            if (room < 1) {
                throw new ApiError(413, "invalid_request_error", "messages", "context_length_exceeded", "the prompt has "
                        + prompt.length + " tokens; the model's context is " + contextLength());
            }
            SamplingParams sampling = request.sampling().withMaxNewTokens(Math.min(request.sampling().maxNewTokens(), room));
            return new Turn() {
                @Override
                public long version() {
                    return served.version();
                }

                @Override
                public Answer answer(Consumer<String> onPiece) {
                    Generator.Generation answer = served.generator().generate(prompt, sampling, onPiece);
                    return new Answer(answer.text(), answer.finishReason() == Generator.FinishReason.LENGTH ? "length" : "stop",
                            prompt.length, answer.ids().length);
                }

                @Override
                public void close() {
                    served.release();
                }
            };
        } catch (RuntimeException e) {
            served.release();
            throw e;
        }
    }

    /** Its models are in memory: ready whenever it runs. */
    @Override
    public Health health() {
        return Health.ok();
    }

    /** The promoted release: what a request outside the canary share starting now would run on. */
    @Override
    public long version() {
        return current.get().version();
    }

    /** The canary candidate in service, or {@link VersionFollower#NO_CANDIDATE}. */
    @Override
    public long candidateVersion() {
        ServedModel trial = candidate.get();
        return trial == null ? VersionFollower.NO_CANDIDATE : trial.version();
    }

    /** The job's canary verdicts so far, by version. */
    public Map<Long, ModelRelease> decisions() {
        return follower.decisions();
    }

    public ChatTokenizer tokenizer() {
        return tokenizer;
    }

    @Override
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

    @Override
    public VersionFollower versions() {
        return follower;
    }

    /** The candidates the job's release gate refused (when the rejections topic is followed). */
    public List<ModelUpdate> refusedCandidates() {
        return follower.refusedCandidates();
    }

    public long swaps() {
        return follower.applied();
    }

    /** See {@link FirstServed}: each version's wait from announcement to swap here. */
    @Override
    public void onFirstServed(DoubleConsumer listener) {
        firstServed.listen(listener);
    }

    /** Builds each verified version into a model of its own and swaps it in. */
    private final class Swap implements VersionFollower.Target {
        @Override
        public long version() {
            return ModelFollower.this.version();
        }

        @Override
        public void apply(ModelUpdate update, Path dir) {
            current.getAndSet(served(update, dir)).release();
        }

        @Override
        public boolean servesCandidates() {
            return true;
        }

        @Override
        public long candidate() {
            return candidateVersion();
        }

        @Override
        public void applyCandidate(ModelUpdate update, Path dir) {
            ServedModel before = candidate.getAndSet(update == null ? null : served(update, dir));
            if (before != null) {
                before.release();
            }
        }
    }

    private ServedModel served(ModelUpdate update, Path dir) {
        LlamaForCausalLM model;
        if (update.getFormat() == CheckpointFormat.FULL) {
            model = LlamaForCausalLM.load(dir, options.device());
        } else {
            // Merged once here, so answers run at the base model's speed with no adapter branch.
            try (LoraAdapter adapter = LoraAdapter.load(base, dir)) {
                model = LlamaForCausalLM.fromTensors(base.config(), adapter.mergedTensors(), options.device());
            }
        }
        firstServed.served(update);
        return served(update.getVersion(), update, model);
    }

    private ServedModel served(long version, ModelUpdate update, LlamaForCausalLM model) {
        return new ServedModel(version, update, model, new Generator(model, tokenizer));
    }

    @Override
    public void close() {
        if (follower != null) {
            follower.close();
        }
        for (AtomicReference<ServedModel> slot : List.of(current, candidate)) {
            ServedModel last = slot.getAndSet(null);
            if (last != null) {
                last.release();
            }
        }
        base.close();
        tokenizer.close();
    }
}
