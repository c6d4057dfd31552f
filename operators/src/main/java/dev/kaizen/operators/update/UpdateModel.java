package dev.kaizen.operators.update;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;

import ai.djl.Device;
import org.apache.commons.io.FileUtils;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.tokenize.ChatTemplate;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.alignment.tokenize.Prompt;
import dev.kaizen.alignment.train.Trainer;
import dev.kaizen.checkpoints.CheckpointStore;
import dev.kaizen.operators.accumulate.KtoBatch;
import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.schemas.CheckpointFormat;
import dev.kaizen.schemas.ModelUpdate;

/**
 * Keyed by model: one guarded KTO step of the model's LoRA adapter per batch, on the task thread.
 * The base model is loaded once per task; the adapter of the model being trained stays live and is
 * reloaded from the store only when the key's state names another version (after a restore, a
 * rescale, or a batch of another model). A step that passes the guards is written to the
 * checkpoint store and becomes the key's head, its ModelUpdate leaving for model-updates; a
 * dropped step leaves the head as it was and goes to the {@link #REJECTIONS} side output, naming
 * the checkpoint it was tried on (for version 0, the base model directory).
 */
public class UpdateModel extends KeyedProcessFunction<String, KtoBatch, ModelUpdate> {

    public static final OutputTag<ModelUpdate> REJECTIONS = new OutputTag<>("model-rejections", TypeInformation.of(ModelUpdate.class));

    private final UpdateConfig config;
    private final CheckpointStore store;

    private transient ValueState<ModelUpdate> head;
    private transient LlamaForCausalLM base;
    private transient ChatTokenizer tokenizer;
    private transient CheckpointStore.Stored baseModel;
    private transient Path scratch;
    private transient Trainer trainer;
    private transient String trainerModel;
    private transient long trainerVersion;
    private transient Counter steps;
    private transient Counter rejections;
    private transient Map<String, Double> lastMetrics;
    private transient volatile long lastStepMillis;
    private transient volatile long currentVersion;

    public UpdateModel(UpdateConfig config) {
        this.config = config;
        this.store = new CheckpointStore(config.checkpointRoot(), new FlinkStoreFiles());
    }

    @Override
    public void open(OpenContext context) throws IOException {
        head = getRuntimeContext().getState(new ValueStateDescriptor<>("head", TypeInformation.of(ModelUpdate.class)));
        Path baseDir = Path.of(config.baseModelDir());
        base = LlamaForCausalLM.load(baseDir, device());
        tokenizer = ChatTokenizer.load(baseDir);
        // The base directory as a stored checkpoint: what a step on version 0 was tried on.
        baseModel = CheckpointStore.describe(baseDir);
        scratch = Files.createTempDirectory("kaizen-update-");
        lastMetrics = new HashMap<>();
        MetricGroup metrics = getRuntimeContext().getMetricGroup();
        steps = metrics.counter("steps");
        rejections = metrics.counter("rejectedSteps");
        metrics.gauge("stepTimeMs", () -> lastStepMillis);
        metrics.gauge("currentVersion", () -> currentVersion);
        for (String name : List.of("loss", "kl", "kl_to_reference", "rewards/chosen", "rewards/rejected", "grad_norm")) {
            metrics.gauge(name.replace('/', '_'), () -> lastMetrics.getOrDefault(name, Double.NaN));
        }
    }

    /** A GPU when Flink's external resource framework gave this task one (resource name "gpu"), else the CPU. */
    private Device device() {
        return getRuntimeContext().getExternalResourceInfos("gpu").stream()
                .map(info -> info.getProperty("index")).flatMap(java.util.Optional::stream).findFirst()
                .map(index -> Device.gpu(Integer.parseInt(index))).orElse(Device.cpu());
    }

    @Override
    public void processElement(KtoBatch batch, Context ctx, Collector<ModelUpdate> out) throws Exception {
        ModelUpdate parent = head.value();
        long version = parent == null ? 0 : parent.getVersion();
        Trainer t = trainerAt(ctx.getCurrentKey(), parent);
        List<Row> rows = batch.samples().stream().map(UpdateModel::row).toList();
        long start = System.nanoTime();
        Trainer.OnlineStep step = t.step(rows, config.loss(batch.desirableWeight(), batch.undesirableWeight()), config.klBudget());
        lastStepMillis = (System.nanoTime() - start) / 1_000_000;
        lastMetrics = step.metrics();
        CheckpointStore.Stored from = parent == null ? baseModel : CheckpointStore.Stored.of(parent);
        if (!step.applied()) {
            rejections.inc();
            ModelUpdate rejected = update(ctx.getCurrentKey(), version, from, batch, step, ctx.timerService().currentProcessingTime());
            stepped(rejected, batch);
            ctx.output(REJECTIONS, rejected);
            return;
        }
        Path local = scratch.resolve(UUID.randomUUID().toString());
        try {
            t.saveCheckpoint(local, Path.of(config.baseModelDir()));
            CheckpointStore.Stored stored = store.put(ctx.getCurrentKey(), local);
            ModelUpdate update = update(ctx.getCurrentKey(), version, stored, batch, step, ctx.timerService().currentProcessingTime());
            stepped(update, batch);
            head.update(update);
            trainerVersion = update.getVersion();
            currentVersion = update.getVersion();
            steps.inc();
            out.collect(update);
        } finally {
            FileUtils.deleteDirectory(local.toFile());
        }
    }

    /**
     * Called once a step is decided, before it is reported: a version whose files are in the store
     * but not yet announced, or a rejected step. A seam for the tests of failures and exactness.
     */
    protected void stepped(ModelUpdate update, KtoBatch batch) {}

    private Trainer trainerAt(String model, ModelUpdate parent) throws IOException {
        long version = parent == null ? 0 : parent.getVersion();
        if (trainer != null && model.equals(trainerModel) && trainerVersion == version) {
            return trainer;
        }
        closeTrainer();
        if (parent == null) {
            trainer = Trainer.resume(base, tokenizer, config.trainingOptions(), null);
        } else {
            Path local = scratch.resolve(UUID.randomUUID().toString());
            try {
                store.fetch(CheckpointStore.Stored.of(parent), local);
                trainer = Trainer.resume(base, tokenizer, config.trainingOptions(), local);
            } finally {
                FileUtils.deleteDirectory(local.toFile());
            }
        }
        trainerModel = model;
        trainerVersion = version;
        return trainer;
    }

    private ModelUpdate update(String model, long parentVersion, CheckpointStore.Stored stored, KtoBatch batch,
                               Trainer.OnlineStep step, long now) {
        return ModelUpdate.newBuilder().setModelId(model).setVersion(parentVersion + 1).setParentVersion(parentVersion)
                .setFormat(CheckpointFormat.ADAPTER).setUri(stored.uri()).setSha256(stored.sha256()).setFiles(new TreeMap<>(stored.files()))
                .setCreatedAt(Instant.ofEpochMilli(now)).setFeedbackCount(batch.samples().size())
                .setMetrics(new TreeMap<>(step.metrics())).setBaseModel(config.baseModel())
                .setRejectionReason(step.rejection()).build();
    }

    private static Row row(SettledVote vote) {
        List<ChatTemplate.Message> messages = vote.prompt().stream()
                .map(m -> new ChatTemplate.Message(m.getRole(), m.getContent())).toList();
        return new Row.Unpaired(Prompt.chat(messages), vote.completion(), vote.desirable());
    }

    private void closeTrainer() {
        if (trainer != null) {
            trainer.close();
            trainer = null;
        }
    }

    @Override
    public void close() throws Exception {
        closeTrainer();
        if (tokenizer != null) {
            tokenizer.close();
        }
        if (base != null) {
            base.close();
        }
        if (scratch != null) {
            FileUtils.deleteDirectory(scratch.toFile());
        }
    }
}
