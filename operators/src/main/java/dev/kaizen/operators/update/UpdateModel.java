package dev.kaizen.operators.update;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;

import ai.djl.Device;
import org.apache.commons.io.FileUtils;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.tokenize.ChatTemplate;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.alignment.tokenize.Prompt;
import dev.kaizen.alignment.train.Trainer;
import dev.kaizen.checkpoints.CheckpointStore;
import dev.kaizen.operators.accumulate.KtoBatch;
import dev.kaizen.operators.canary.CanaryRule;
import dev.kaizen.operators.canary.Trial;
import dev.kaizen.operators.deadletter.DeadLetters;
import dev.kaizen.operators.metrics.Latency;
import dev.kaizen.operators.release.Candidate;
import dev.kaizen.operators.release.HoldOut;
import dev.kaizen.operators.release.ReleaseConfig;
import dev.kaizen.operators.release.ReleaseGate;
import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.schemas.CheckpointFormat;
import dev.kaizen.schemas.ModelCommand;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ReleaseDecision;
import dev.kaizen.schemas.wire.DeadLetterReason;

/**
 * Keyed by model: one guarded KTO step of the model's LoRA adapter per batch, on the task thread;
 * a release every few steps. A batch's samples that {@link HoldOut} holds out never train: the
 * newest of them are kept to judge candidates on, and every record counts them (metric
 * {@value #HELD_OUT_SAMPLES}) beside its {@code feedback_count} of trained samples. Each accepted step is written to the checkpoint store (so a restore
 * resumes exactly) and extends the key's {@link Candidate}; after {@link ReleaseConfig#everySteps}
 * steps, or {@link ReleaseConfig#maxWait} after the first of them, the candidate is judged by the
 * {@link ReleaseGate}: passed, it is announced as the next version on model-updates; refused, it
 * goes to {@link #REJECTIONS} with the gate's reason and training starts again from the last
 * release. A dropped step goes there too, naming the checkpoint it was tried on (for the base, the
 * base model directory). Refusals consume no version number. The base model is loaded once per
 * task; the adapter being trained stays live and is reloaded from the store only when the key's
 * state names another checkpoint (after a restore, a rescale, a refusal or a batch of another model).
 * <p>The second input is the operators' commands from model-commands: a rollback to an earlier
 * release N is announced as the next version, on N's checkpoint (same files and sha256, the record
 * saying it restores N), and training goes on from there; a pending candidate is discarded, its
 * samples counted on {@link #REJECTIONS} ({@value #ROLLED_BACK}). A command for a model without a
 * release, or for a version that is not an earlier kept release, is dead-lettered.
 * <p>With a {@link CanaryRule}, a release is announced as a canary ({@code canary} true: serving
 * gives it to the canary share only) and tried against the promoted release: every settled vote
 * of every batch is tallied by the version that wrote its answer ({@link Trial}), and the rule's
 * verdict goes out on {@link #DECISIONS} (model-releases). While a trial runs, training goes on
 * but no release is made. PROMOTE makes it the promoted release; ROLLBACK sets it aside for good,
 * discards the pending candidate trained on it ({@value #CANARY_ROLLED_BACK} on {@link #REJECTIONS}) and
 * training goes on from the promoted release, which the next release names as its parent. A
 * rollback command ends a running trial with a ROLLBACK and its restore is promoted at once.
 * Without a rule every release is promoted as it is announced.
 * <p>The store stays bounded ({@link StoreRetention}): a step's checkpoint the state stops naming
 * (superseded by the next step, refused, discarded, or a release past the last few) is deleted
 * once no retained Flink checkpoint names it.
 */
public class UpdateModel extends KeyedCoProcessFunction<String, KtoBatch, ModelCommand, ModelUpdate>
        implements CheckpointedFunction, CheckpointListener {

    private static final Logger LOG = LoggerFactory.getLogger(UpdateModel.class);

    public static final OutputTag<ModelUpdate> REJECTIONS = new OutputTag<>("model-rejections", TypeInformation.of(ModelUpdate.class));
    /** A batch whose samples, held-out ones aside, are fewer than KTO's pair: reported as a dropped step. */
    public static final String TOO_FEW_SAMPLES = "too-few-samples";
    /** The metric of every record: how many of the samples it accounts for were held out for evaluation instead of training. */
    public static final String HELD_OUT_SAMPLES = "held_out_samples";
    /** The canary's verdicts, for model-releases. */
    public static final OutputTag<ModelRelease> DECISIONS = new OutputTag<>("model-releases", TypeInformation.of(ModelRelease.class));
    /** The reason of a candidate discarded because a rollback came before it was judged. */
    public static final String ROLLED_BACK = "rolled-back";
    /** The reason of a candidate discarded because the canary it was trained on was rolled back. */
    public static final String CANARY_ROLLED_BACK = "canary-rolled-back";

    private final UpdateConfig config;
    private final ReleaseConfig release;
    private final CheckpointStore store;
    private final StoreRetention retention;
    private final DeadLetters deadLetters;
    private final CanaryRule canary;

    private transient ValueState<ModelUpdate> head;
    // The promoted release (absent: the base model), the running canary trial, and, after a canary
    // rollback, the release training went back to (0: the base) until the next release.
    private transient ValueState<Long> promoted;
    private transient ValueState<Trial> trial;
    private transient ValueState<Long> trainingFrom;
    // The kept releases of the key by version (the last few and those a rollback named): what a rollback can go back to.
    private transient MapState<Long, ModelUpdate> releasesByVersion;
    private transient MapState<Long, Boolean> rollbackTargets;
    private transient ListState<Unreferenced.Pending> unreferencedState;
    private transient Unreferenced unreferenced;
    private transient ValueState<Candidate> candidate;
    // The newest held-out samples, as a ring of holdoutSize slots, and the next slot to write.
    private transient MapState<Integer, SettledVote> heldOut;
    private transient ValueState<Long> heldOutNext;
    private transient LlamaForCausalLM base;
    private transient ChatTokenizer tokenizer;
    private transient CheckpointStore.Stored baseModel;
    private transient ReleaseGate gate;
    private transient Path scratch;
    private transient Trainer trainer;
    private transient String trainerModel;
    private transient String trainerCheckpoint;
    private transient Counter steps;
    private transient Histogram settledToTrained;
    private transient Histogram trainedToAnnounced;
    private transient Counter rejections;
    private transient Counter releases;
    private transient Counter refusals;
    private transient Counter rollbacks;
    private transient Counter refusedCommands;
    private transient Counter promotions;
    private transient Counter canaryRollbacks;
    private transient MetricGroup metricGroup;
    private transient Map<String, CanaryGauges> canaryGauges;
    private transient Map<String, Double> lastMetrics;
    private transient volatile long lastStepMillis;
    private transient volatile long currentVersion;

    /** {@code canary} null: every release goes to every user as it is announced. */
    public UpdateModel(UpdateConfig config, ReleaseConfig release, CanaryRule canary, StoreRetention retention, DeadLetters deadLetters) {
        this.config = config;
        this.release = release;
        this.canary = canary;
        this.retention = retention;
        this.deadLetters = deadLetters;
        this.store = new CheckpointStore(config.checkpointRoot(), new FlinkStoreFiles());
    }

    @Override
    public void open(OpenContext context) throws IOException {
        head = getRuntimeContext().getState(new ValueStateDescriptor<>("head", TypeInformation.of(ModelUpdate.class)));
        releasesByVersion = getRuntimeContext().getMapState(new MapStateDescriptor<>("releases", Types.LONG, TypeInformation.of(ModelUpdate.class)));
        rollbackTargets = getRuntimeContext().getMapState(new MapStateDescriptor<>("rollback-targets", Types.LONG, Types.BOOLEAN));
        candidate = getRuntimeContext().getState(new ValueStateDescriptor<>("candidate", TypeInformation.of(Candidate.class)));
        heldOut = getRuntimeContext().getMapState(new MapStateDescriptor<>("held-out", Types.INT, TypeInformation.of(SettledVote.class)));
        heldOutNext = getRuntimeContext().getState(new ValueStateDescriptor<>("held-out-next", Types.LONG));
        promoted = getRuntimeContext().getState(new ValueStateDescriptor<>("promoted", Types.LONG));
        trial = getRuntimeContext().getState(new ValueStateDescriptor<>("canary-trial", TypeInformation.of(Trial.class)));
        trainingFrom = getRuntimeContext().getState(new ValueStateDescriptor<>("training-from", Types.LONG));
        Path baseDir = Path.of(config.baseModelDir());
        base = LlamaForCausalLM.load(baseDir, device());
        tokenizer = ChatTokenizer.load(baseDir);
        // The base directory as a stored checkpoint: what a step on version 0 was tried on.
        baseModel = CheckpointStore.describe(baseDir);
        gate = ReleaseGate.of(release, base, tokenizer);
        scratch = Files.createTempDirectory("kaizen-update-");
        lastMetrics = new HashMap<>();
        MetricGroup metrics = getRuntimeContext().getMetricGroup();
        steps = metrics.counter("steps");
        rejections = metrics.counter("rejectedSteps");
        releases = metrics.counter("releases");
        refusals = metrics.counter("refusedCandidates");
        rollbacks = metrics.counter("rollbacks");
        refusedCommands = metrics.counter("refusedCommands");
        promotions = metrics.counter("canaryPromotions");
        canaryRollbacks = metrics.counter("canaryRollbacks");
        metricGroup = metrics;
        canaryGauges = new HashMap<>();
        metrics.gauge("stepTimeMs", () -> lastStepMillis);
        // From a vote's settling to the step that trains on it (the votes a batch brings, not replays): the wait for a
        // full batch and for the steps ahead of it. Both ends are TaskManagers' clocks.
        settledToTrained = Latency.register(metrics, "settledToTrainedMs");
        // From a release's first step to its announcement (visible once the checkpoint holding it completes).
        trainedToAnnounced = Latency.register(metrics, "trainedToAnnouncedMs");
        metrics.gauge("currentVersion", () -> currentVersion);
        for (String name : List.of("loss", "kl", "kl_to_reference", "rewards/chosen", "rewards/rejected", "grad_norm",
                ReleaseGate.GOLDEN_NLL, ReleaseGate.GOLDEN_NLL_BASELINE, ReleaseGate.ANSWER_TOKENS, ReleaseGate.ANSWER_TOKENS_BASELINE,
                ReleaseGate.DISTINCT_2, ReleaseGate.DISTINCT_2_BASELINE, ReleaseGate.EVAL_LOSS, ReleaseGate.EVAL_LOSS_BASELINE)) {
            metrics.gauge(name.replace('/', '_'), () -> lastMetrics.getOrDefault(name, Double.NaN));
        }
    }

    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
        unreferencedState = context.getOperatorStateStore().getListState(
                new ListStateDescriptor<>("unreferenced-checkpoints", TypeInformation.of(Unreferenced.Pending.class)));
        unreferenced = new Unreferenced(retention.retainedCheckpoints());
        unreferenced.restore(unreferencedState.get());
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) throws Exception {
        unreferencedState.update(unreferenced.snapshot(context.getCheckpointId()));
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
        for (String uri : unreferenced.deletable(checkpointId)) {
            try {
                store.delete(uri);
            } catch (IOException e) {
                LOG.warn("could not delete the unreferenced checkpoint {}; it stays in the store", uri, e);
            }
        }
    }

    /** A GPU when Flink's external resource framework gave this task one (resource name "gpu"), else the CPU. */
    private Device device() {
        return getRuntimeContext().getExternalResourceInfos("gpu").stream()
                .map(info -> info.getProperty("index")).flatMap(java.util.Optional::stream).findFirst()
                .map(index -> Device.gpu(Integer.parseInt(index))).orElse(Device.cpu());
    }

    @Override
    public void processElement1(KtoBatch batch, Context ctx, Collector<ModelUpdate> out) throws Exception {
        String model = ctx.getCurrentKey();
        tally(model, batch.samples(), ctx);
        List<SettledVote> trainable = new ArrayList<>();
        long held = 0;
        for (SettledVote vote : batch.samples()) {
            if (HoldOut.isHeldOut(vote.responseId(), release.holdoutFraction())) {
                hold(vote);
                held++;
            } else {
                trainable.add(vote);
            }
        }
        ModelUpdate basis = trainedOn();
        Candidate pending = candidate.value();
        long version = headVersion() + 1;
        long parent = basis == null ? 0 : basis.getVersion();
        CheckpointStore.Stored from = pending != null ? pending.checkpoint() : basis != null ? CheckpointStore.Stored.of(basis) : baseModel;
        if (trainable.size() < 2) {
            rejections.inc();
            ModelUpdate dropped = record(model, version, parent, from, trainable.size(), Map.of(HELD_OUT_SAMPLES, (double) held), TOO_FEW_SAMPLES,
                    ctx.timerService().currentProcessingTime());
            stepped(from, null, dropped, batch);
            ctx.output(REJECTIONS, dropped);
            return;
        }
        List<SettledVote> fresh = trainable;
        trainable = trainingSamples(trainable, version);
        Trainer t = trainerAt(model, from);
        long desirable = trainable.stream().filter(SettledVote::desirable).count();
        KtoLoss.Config weights = KtoLoss.weighted(config.loss(), desirable, trainable.size() - desirable);
        long start = System.nanoTime();
        Trainer.OnlineStep step = t.step(trainable.stream().map(UpdateModel::row).toList(), weights, config.klBudget());
        lastStepMillis = (System.nanoTime() - start) / 1_000_000;
        lastMetrics = step.metrics();
        long now = ctx.timerService().currentProcessingTime();
        if (!step.applied()) {
            rejections.inc();
            Map<String, Double> metrics = new TreeMap<>(step.metrics());
            metrics.put(HELD_OUT_SAMPLES, (double) held);
            ModelUpdate rejected = record(model, version, parent, from, trainable.size(), metrics, step.rejection(), now);
            stepped(from, null, rejected, batch);
            ctx.output(REJECTIONS, rejected);
            return;
        }
        Path local = scratch.resolve(UUID.randomUUID().toString());
        CheckpointStore.Stored stored;
        try {
            t.saveCheckpoint(local, Path.of(config.baseModelDir()));
            stored = store.put(model, local);
        } finally {
            FileUtils.deleteDirectory(local.toFile());
        }
        trainerCheckpoint = stored.sha256();
        steps.inc();
        fresh.forEach(vote -> settledToTrained.update(now - vote.settledAt()));
        stepped(from, stored, null, batch);
        if (pending != null) {
            unreference(pending.checkpoint());
        }
        Candidate next = pending == null ? Candidate.first(stored, trainable.size(), held, now, step.metrics())
                : pending.next(stored, trainable.size(), held, step.metrics());
        // No release while a canary is on trial; one that came due meanwhile goes once it is decided.
        if (trial.value() == null && (next.steps() >= release.everySteps() || now >= next.firstStepAt() + release.maxWait().toMillis())) {
            release(model, next, now, ctx, out);
            return;
        }
        candidate.update(next);
        if (pending == null) {
            ctx.timerService().registerProcessingTimeTimer(now + release.maxWait().toMillis());
        }
    }

    /** Keeps a held-out sample in the ring of the newest ones. */
    private void hold(SettledVote vote) throws Exception {
        Long next = heldOutNext.value();
        long n = next == null ? 0 : next;
        heldOut.put((int) (n % release.holdoutSize()), vote);
        heldOutNext.update(n + 1);
    }

    /**
     * The candidate's wait is over; timers of candidates released or refused since find nothing to
     * do, and one that fires during a canary trial leaves the release to the first step after it.
     */
    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<ModelUpdate> out) throws Exception {
        Candidate pending = candidate.value();
        if (pending != null && trial.value() == null && pending.firstStepAt() + release.maxWait().toMillis() <= timestamp) {
            release(ctx.getCurrentKey(), pending, timestamp, ctx, out);
        }
    }

    private void release(String model, Candidate next, long now, Context ctx, Collector<ModelUpdate> out) throws Exception {
        ModelUpdate last = trainedOn();
        List<Row> evaluation = new ArrayList<>();
        for (SettledVote vote : heldOut.values()) {
            evaluation.add(row(vote));
        }
        // The last release's loss on today's held-out samples (the base model's is the gate's to take).
        Double baseline = last != null && evaluation.size() >= 2
                ? trainerAt(model, CheckpointStore.Stored.of(last)).evaluate(evaluation).get(ReleaseGate.EVAL_LOSS) : null;
        ReleaseGate.Verdict verdict = gate.judge(trainerAt(model, next.checkpoint()), last == null ? null : last.getMetrics(), evaluation, baseline);
        Map<String, Double> metrics = new TreeMap<>(next.metrics());
        metrics.putAll(verdict.metrics());
        metrics.put(HELD_OUT_SAMPLES, (double) next.heldOutCount());
        lastMetrics = metrics;
        ModelUpdate decided = record(model, headVersion() + 1, last == null ? 0 : last.getVersion(), next.checkpoint(), next.feedbackCount(),
                metrics, verdict.refusal(), now);
        released(decided);
        candidate.clear();
        if (verdict.passed()) {
            trainedToAnnounced.update(now - next.firstStepAt());
            announce(ModelUpdate.newBuilder(decided).setCanary(canary != null).build(), out);
        } else {
            // The next step starts from the last release again.
            unreference(next.checkpoint());
            refusals.inc();
            ctx.output(REJECTIONS, decided);
        }
    }

    /** A canary goes on trial; any other release is promoted as it is announced. */
    private void announce(ModelUpdate version, Collector<ModelUpdate> out) throws Exception {
        head.update(version);
        trainingFrom.clear();
        releasesByVersion.put(version.getVersion(), version);
        long old = version.getVersion() - retention.keepReleases();
        if (old >= 1 && old != promotedVersion()) {
            forget(old);
        }
        if (version.getCanary()) {
            trial.update(Trial.of(version.getVersion(), version.getCreatedAt().toEpochMilli()));
        } else {
            promote(version.getVersion());
        }
        currentVersion = version.getVersion();
        releases.inc();
        gauges(version.getModelId());
        out.collect(version);
    }

    /** Makes {@code version} the promoted release; the one before it is kept only while it is among the last releases. */
    private void promote(long version) throws Exception {
        long before = promotedVersion();
        promoted.update(version);
        if (before >= 1 && before <= headVersion() - retention.keepReleases()) {
            forget(before);
        }
    }

    /** Drops a release from those a rollback can go back to, unless a rollback named it. */
    private void forget(long version) throws Exception {
        if (rollbackTargets.contains(version)) {
            return;
        }
        ModelUpdate dropped = releasesByVersion.get(version);
        releasesByVersion.remove(version);
        if (dropped != null) {
            unreference(CheckpointStore.Stored.of(dropped));
        }
    }

    private long headVersion() throws Exception {
        ModelUpdate last = head.value();
        return last == null ? 0 : last.getVersion();
    }

    private long promotedVersion() throws Exception {
        Long version = promoted.value();
        return version == null ? 0 : version;
    }

    /** The release new steps build on: the last one or, after a canary was rolled back, the promoted one (null: the base model). */
    private ModelUpdate trainedOn() throws Exception {
        Long back = trainingFrom.value();
        if (back == null) {
            return head.value();
        }
        return back == 0 ? null : releasesByVersion.get(back);
    }

    /**
     * Counts the batch's votes into the running trial, judging the candidate at each of its votes,
     * and carries out the verdict: the votes after it in the batch count for nothing.
     */
    private void tally(String model, List<SettledVote> votes, Context ctx) throws Exception {
        Trial t = trial.value();
        if (t == null) {
            return;
        }
        long against = promotedVersion();
        for (SettledVote vote : votes) {
            boolean judges = t.judges(vote);
            t = t.count(vote, against);
            CanaryRule.Verdict verdict = judges ? canary.judge(t.candidateUp(), t.candidateVotes(), t.promotedUp(), t.promotedVotes())
                    : CanaryRule.Verdict.WAIT;
            if (verdict != CanaryRule.Verdict.WAIT) {
                trial.clear();
                decide(model, t, verdict, ctx);
                return;
            }
        }
        trial.update(t);
        gauges(model);
    }

    private void decide(String model, Trial t, CanaryRule.Verdict verdict, Context ctx) throws Exception {
        long now = ctx.timerService().currentProcessingTime();
        long against = promotedVersion();
        String reason = "canary " + verdict.name().toLowerCase(java.util.Locale.ROOT) + ": " + t.figures(against);
        if (verdict == CanaryRule.Verdict.PROMOTE) {
            promotions.inc();
            promote(t.version());
            ctx.output(DECISIONS, t.decision(model, ReleaseDecision.PROMOTE, against, now, reason));
        } else {
            canaryRollbacks.inc();
            ctx.output(DECISIONS, t.decision(model, ReleaseDecision.ROLLBACK, against, now, reason));
            discardPending(model, CANARY_ROLLED_BACK, "trained on version " + t.version() + ", which its canary rolled back", now, ctx);
            trainingFrom.update(against);
        }
        gauges(model).decided(verdict);
    }

    /**
     * The canary's figures of one model as gauges in its own metric group ({@code model=<id>}):
     * promoted and candidate versions (0: none), the votes each drew in the running trial, and the
     * last decision (1 promote, -1 rollback, 0 none yet).
     */
    private static final class CanaryGauges {
        volatile long promoted;
        volatile long candidate;
        volatile long candidateVotes;
        volatile long candidateUp;
        volatile long promotedVotes;
        volatile long promotedUp;
        volatile long lastDecision;

        void decided(CanaryRule.Verdict verdict) {
            lastDecision = verdict == CanaryRule.Verdict.PROMOTE ? 1 : -1;
        }
    }

    private CanaryGauges gauges(String model) throws Exception {
        CanaryGauges g = canaryGauges.computeIfAbsent(model, m -> {
            CanaryGauges added = new CanaryGauges();
            MetricGroup group = metricGroup.addGroup("model", m);
            group.gauge("promotedVersion", () -> added.promoted);
            group.gauge("candidateVersion", () -> added.candidate);
            group.gauge("candidateVotes", () -> added.candidateVotes);
            group.gauge("candidateUpVotes", () -> added.candidateUp);
            group.gauge("promotedVotes", () -> added.promotedVotes);
            group.gauge("promotedUpVotes", () -> added.promotedUp);
            group.gauge("lastDecision", () -> added.lastDecision);
            return added;
        });
        Trial t = trial.value();
        g.promoted = promotedVersion();
        g.candidate = t == null ? 0 : t.version();
        g.candidateVotes = t == null ? 0 : t.candidateVotes();
        g.candidateUp = t == null ? 0 : t.candidateUp();
        g.promotedVotes = t == null ? 0 : t.promotedVotes();
        g.promotedUp = t == null ? 0 : t.promotedUp();
        return g;
    }

    /**
     * Reports the pending candidate, if any, as discarded with reason {@code "<kind>: the candidate
     * of N steps was <why>"} (its samples counted on model-rejections) and lets its checkpoint go.
     */
    private void discardPending(String model, String kind, String why, long now, Context ctx) throws Exception {
        Candidate pending = candidate.value();
        if (pending == null) {
            return;
        }
        refusals.inc();
        Map<String, Double> metrics = new TreeMap<>(pending.metrics());
        metrics.put(HELD_OUT_SAMPLES, (double) pending.heldOutCount());
        ModelUpdate basis = trainedOn();
        ctx.output(REJECTIONS, record(model, headVersion() + 1, basis == null ? 0 : basis.getVersion(), pending.checkpoint(),
                pending.feedbackCount(), metrics, kind + ": the candidate of " + pending.steps() + " steps was " + why, now));
        candidate.clear();
        unreference(pending.checkpoint());
    }

    /**
     * A rollback: version N's checkpoint announced again as the next version, with N's metrics
     * (the gate's baselines for the next candidate), counting no samples.
     */
    @Override
    public void processElement2(ModelCommand command, Context ctx, Collector<ModelUpdate> out) throws Exception {
        ModelUpdate current = head.value();
        long now = ctx.timerService().currentProcessingTime();
        ModelUpdate target = current == null ? null : releasesByVersion.get(command.getToVersion());
        if (target == null || command.getToVersion() >= current.getVersion()) {
            refusedCommands.inc();
            DeadLetterReason reason = current == null ? new DeadLetterReason.UnknownModel(command.getModelId())
                    : new DeadLetterReason.UnknownVersion(command.getModelId(), command.getToVersion(), current.getVersion(),
                    Math.max(1, current.getVersion() - retention.keepReleases() + 1));
            ctx.output(DeadLetters.TAG, deadLetters.command(command, reason, Instant.ofEpochMilli(now)));
            return;
        }
        String model = command.getModelId();
        String by = "command " + command.getCommandId() + " (rollback to version " + command.getToVersion() + ")";
        discardPending(model, ROLLED_BACK, "discarded by " + by, now, ctx);
        Trial running = trial.value();
        if (running != null) {
            trial.clear();
            ctx.output(DECISIONS, running.decision(model, ReleaseDecision.ROLLBACK, promotedVersion(), now,
                    "ended by " + by + ": " + running.figures(promotedVersion())));
            gauges(model).decided(CanaryRule.Verdict.ROLLBACK);
        }
        rollbackTargets.put(target.getVersion(), true);
        Map<String, Double> metrics = new TreeMap<>(target.getMetrics());
        metrics.put(HELD_OUT_SAMPLES, 0.0);
        ModelUpdate restored = ModelUpdate.newBuilder(record(model, current.getVersion() + 1, current.getVersion(), CheckpointStore.Stored.of(target), 0,
                metrics, null, now)).setRestoresVersion(target.getVersion()).setCommandId(command.getCommandId()).build();
        rollbacks.inc();
        announce(restored, out);
    }

    /** A checkpoint the key's state stops naming: deleted in time, unless a kept release has the same content. */
    private void unreference(CheckpointStore.Stored stored) throws Exception {
        for (ModelUpdate kept : releasesByVersion.values()) {
            if (kept.getSha256().equals(stored.sha256())) {
                return;
            }
        }
        unreferenced.add(stored.uri());
    }

    /**
     * Called once a step is decided, before anything is reported: {@code to} is the stored
     * checkpoint of an accepted step, {@code rejected} the report of a dropped one. A seam for the
     * tests of exactness.
     */
    protected void stepped(CheckpointStore.Stored from, CheckpointStore.Stored to, ModelUpdate rejected, KtoBatch batch) {}

    /**
     * The samples a step trains on, when its candidate would be announced as {@code version}: a
     * seam for the tests of the canary, which train one release on labels turned around.
     */
    protected List<SettledVote> trainingSamples(List<SettledVote> samples, long version) {
        return samples;
    }

    /** Called once a candidate is judged, before it is announced or reported. A seam for the tests of failures. */
    protected void released(ModelUpdate decided) {}

    private Trainer trainerAt(String model, CheckpointStore.Stored at) throws IOException {
        if (trainer != null && model.equals(trainerModel) && at.sha256().equals(trainerCheckpoint)) {
            return trainer;
        }
        closeTrainer();
        if (at == baseModel) {
            trainer = Trainer.resume(base, tokenizer, config.trainingOptions(), null);
        } else {
            Path local = scratch.resolve(UUID.randomUUID().toString());
            try {
                store.fetch(at, local);
                trainer = Trainer.resume(base, tokenizer, config.trainingOptions(), local);
            } finally {
                FileUtils.deleteDirectory(local.toFile());
            }
        }
        trainerModel = model;
        trainerCheckpoint = at.sha256();
        return trainer;
    }

    /** A release, a refused candidate or a dropped step: {@code version}, trained from {@code parentVersion}, on {@code stored}. */
    private ModelUpdate record(String model, long version, long parentVersion, CheckpointStore.Stored stored, long samples, Map<String, Double> metrics,
                               String rejection, long now) {
        return ModelUpdate.newBuilder().setModelId(model).setVersion(version).setParentVersion(parentVersion)
                .setFormat(CheckpointFormat.ADAPTER).setUri(stored.uri()).setSha256(stored.sha256()).setFiles(new TreeMap<>(stored.files()))
                .setCreatedAt(Instant.ofEpochMilli(now)).setFeedbackCount(samples)
                .setMetrics(new TreeMap<>(metrics)).setBaseModel(config.baseModel())
                .setRejectionReason(rejection).build();
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
