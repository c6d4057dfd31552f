package dev.kaizen.operators.update;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.alignment.train.Trainer;
import dev.kaizen.checkpoints.CheckpointStore;
import dev.kaizen.operators.accumulate.KtoBatch;
import dev.kaizen.operators.canary.CanaryRule;
import dev.kaizen.operators.deadletter.DeadLetters;
import dev.kaizen.operators.release.HoldOut;
import dev.kaizen.operators.release.ReleaseConfig;
import dev.kaizen.operators.release.ReleaseGate;
import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.ModelAction;
import dev.kaizen.schemas.ModelCommand;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ReleaseDecision;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;

class UpdateModelTest {

    @TempDir
    static Path base;

    @TempDir
    Path store;

    @BeforeAll
    static void writeBase() throws Exception {
        ModelPresets.TINY.write(base, 11);
    }

    static KtoBatch batch(String model, int seed) {
        List<SettledVote> samples = new ArrayList<>();
        int i = 0;
        for (TwoStyleChat.Example e : TwoStyleChat.sample(TwoStyleChat.trainFacts(), 6, 0.5, seed)) {
            samples.add(new SettledVote(model, "r" + seed + "-" + i, "u" + i, "e" + seed + "-" + i++, 0L,
                    e.style() == TwoStyleChat.Style.A, List.of(new ChatMessage("user", e.fact().question())), e.answer(), 0L, 0L));
        }
        return new KtoBatch(model, samples);
    }

    private UpdateConfig config() {
        return new UpdateConfig(base.toString(), null, store.toUri().toString(), 5e-4, 0.3, KtoLoss.Type.KTO, 8, 16, 0.0, 0.5, 42, 512);
    }

    /** Every step a release, without a golden set or held-out samples. */
    private static final ReleaseConfig EVERY_STEP = new ReleaseConfig(1, Duration.ofHours(1), null, 0.05, 1.5, 0.5, 0, 512, 0.05);
    private static final StoreRetention KEEP_ALL = new StoreRetention(1000, 1);
    private static final DeadLetters DEAD_LETTERS = new DeadLetters("chat-feedback", "model-commands");

    private static KeyedTwoInputStreamOperatorTestHarness<String, KtoBatch, ModelCommand, ModelUpdate> harness(UpdateConfig config) throws Exception {
        return harness(config, EVERY_STEP);
    }

    private static KeyedTwoInputStreamOperatorTestHarness<String, KtoBatch, ModelCommand, ModelUpdate> harness(UpdateConfig config, ReleaseConfig release)
            throws Exception {
        var h = unopened(config, release, KEEP_ALL);
        h.open();
        return h;
    }

    private static KeyedTwoInputStreamOperatorTestHarness<String, KtoBatch, ModelCommand, ModelUpdate> unopened(UpdateConfig config,
            ReleaseConfig release, StoreRetention retention) throws Exception {
        return unopened(config, release, null, retention);
    }

    private static KeyedTwoInputStreamOperatorTestHarness<String, KtoBatch, ModelCommand, ModelUpdate> unopened(UpdateConfig config,
            ReleaseConfig release, CanaryRule canary, StoreRetention retention) throws Exception {
        return new KeyedTwoInputStreamOperatorTestHarness<>(new KeyedCoProcessOperator<>(new UpdateModel(config, release, canary, retention, DEAD_LETTERS)),
                KtoBatch::modelId, ModelCommand::getModelId, Types.STRING);
    }

    private static void assertStored(ModelUpdate u) throws Exception {
        Path dir = Path.of(java.net.URI.create(u.getUri()));
        assertThat(CheckpointStore.hashFiles(dir)).isEqualTo(u.getFiles());
        assertThat(CheckpointStore.manifestSha256(u.getFiles())).isEqualTo(u.getSha256());
        assertThat(dir.getFileName().toString()).isEqualTo(u.getSha256());
    }

    @Test
    void eachBatchBecomesTheNextVersionStoredOnceUnderItsContentAddress() throws Exception {
        try (var h = harness(config())) {
            h.processElement1(batch("m", 1), 0);
            h.processElement1(batch("m", 2), 0);
            List<ModelUpdate> out = h.extractOutputValues();
            assertThat(out).extracting(ModelUpdate::getVersion).containsExactly(1L, 2L);
            assertThat(out).extracting(ModelUpdate::getParentVersion).containsExactly(0L, 1L);
            assertThat(out).extracting(ModelUpdate::getFeedbackCount).containsExactly(6L, 6L);
            assertThat(out).allSatisfy(u -> {
                assertThat(u.getRejectionReason()).isNull();
                assertThat(u.getFiles()).containsOnlyKeys("adapter_config.json", "adapter_model.safetensors", Trainer.OPTIMIZER_FILE);
                assertThat(u.getMetrics()).containsKeys("loss", "kl", "kl_to_reference", "grad_norm").containsEntry(ReleaseGate.GOLDEN_SKIPPED, 1.0);
            });
            for (ModelUpdate u : out) {
                assertStored(u);
            }
            assertThat(out.get(0).getSha256()).isNotEqualTo(out.get(1).getSha256());
            assertThat(out).noneMatch(ModelUpdate::getCanary);
            assertThat(h.numKeyedStateEntries()).isEqualTo(3);  // the head of "m", its releases and the promoted one
            try (var list = Files.list(store.resolve("m"))) {
                assertThat(list.map(p -> p.getFileName().toString()))
                        .containsExactlyInAnyOrder(out.get(0).getSha256(), out.get(1).getSha256());
            }
        }
    }

    @Test
    void aRestoredOperatorContinuesFromTheAnnouncedCheckpointBitForBit() throws Exception {
        OperatorSubtaskState snapshot;
        String continued;
        try (var h = harness(config())) {
            h.processElement1(batch("m", 1), 0);
            snapshot = h.snapshot(1, 1);
            h.processElement1(batch("m", 2), 0);
            continued = h.extractOutputValues().get(1).getSha256();
        }
        var h = unopened(config(), EVERY_STEP, KEEP_ALL);
        h.initializeState(snapshot);
        h.open();
        try (h) {
            h.processElement1(batch("m", 2), 0);
            ModelUpdate v2 = h.extractOutputValues().get(0);
            assertThat(v2.getVersion()).isEqualTo(2);
            assertThat(v2.getParentVersion()).isEqualTo(1);
            // Same content, same address: the replayed step wrote exactly what the first run did.
            assertThat(v2.getSha256()).isEqualTo(continued);
        }
    }

    @Test
    void modelsSharingASubtaskEachKeepTheirOwnLineage() throws Exception {
        String alone;
        try (var h = harness(config())) {
            h.processElement1(batch("a", 1), 0);
            h.processElement1(batch("a", 2), 0);
            alone = h.extractOutputValues().get(1).getSha256();
        }
        try (var h = harness(config())) {
            h.processElement1(batch("a", 1), 0);
            h.processElement1(batch("b", 5), 0);
            h.processElement1(batch("a", 2), 0);
            List<ModelUpdate> out = h.extractOutputValues();
            assertThat(out).extracting(u -> u.getModelId() + "@" + u.getVersion()).containsExactly("a@1", "b@1", "a@2");
            assertThat(out.get(2).getSha256()).isEqualTo(alone);
        }
    }

    @Test
    void aPoisonedStepIsReportedAndNeverBecomesAVersion() throws Exception {
        UpdateConfig c = config();
        // An adapter scaled by NaN, as overflowing weights would leave one: every forward pass, and so the loss, is NaN.
        UpdateConfig nan = new UpdateConfig(c.baseModelDir(), c.baseModelName(), c.checkpointRoot(), c.learningRate(), c.beta(),
                KtoLoss.Type.KTO, c.loraRank(), Double.NaN, c.loraDropout(), c.klBudget(), c.seed(), c.maxLength());
        try (var h = harness(nan)) {
            h.processElement1(batch("m", 1), 0);
            assertThat(h.extractOutputValues()).isEmpty();
            ModelUpdate rejected = h.getSideOutput(UpdateModel.REJECTIONS).poll().getValue();
            assertThat(rejected.getRejectionReason()).isEqualTo(Trainer.NON_FINITE_LOSS);
            assertThat(rejected.getVersion()).isEqualTo(1);
            assertThat(rejected.getParentVersion()).isZero();
            assertThat(rejected.getFeedbackCount()).isEqualTo(6);
            assertThat(rejected.getUri()).isEqualTo(base.toUri().toString());
            assertThat(h.numKeyedStateEntries()).isZero();
        }
        UpdateConfig hot = new UpdateConfig(c.baseModelDir(), c.baseModelName(), c.checkpointRoot(), 50, c.beta(),
                KtoLoss.Type.KTO, c.loraRank(), c.loraAlpha(), c.loraDropout(), 1e-4, c.seed(), c.maxLength());
        try (var h = harness(hot)) {
            h.processElement1(batch("m", 1), 0);
            h.processElement1(batch("m", 2), 0);
            assertThat(h.extractOutputValues()).isEmpty();
            assertThat(h.getSideOutput(UpdateModel.REJECTIONS)).extracting(r -> r.getValue().getRejectionReason())
                    .containsExactly(Trainer.KL_OVER_BUDGET, Trainer.KL_OVER_BUDGET);
            assertThat(h.getSideOutput(UpdateModel.REJECTIONS)).allSatisfy(r -> {
                assertThat(r.getValue().getParentVersion()).isZero();
                assertThat(r.getValue().getMetrics().get("kl_to_reference")).isGreaterThan(1e-4);
            });
            assertThat(h.numKeyedStateEntries()).isZero();
        }
        assertThat(store.resolve("m")).doesNotExist();
    }

    /**
     * Every accepted step is stored, but only every third is announced, or the steps since the
     * last release once their wait is over: each release counts the samples of all its steps and
     * carries its last step's metrics.
     */
    @Test
    void stepsAreStoredButAReleaseIsAnnouncedEveryFewStepsOrAfterTheWait() throws Exception {
        try (var h = harness(config(), new ReleaseConfig(3, Duration.ofMinutes(10), null, 0.05, 1.5, 0.5, 0, 512, 0.05))) {
            h.setProcessingTime(1_000);
            for (int seed = 1; seed <= 5; seed++) {
                h.processElement1(batch("m", seed), 0);
            }
            List<ModelUpdate> out = h.extractOutputValues();
            assertThat(out).extracting(ModelUpdate::getVersion, ModelUpdate::getFeedbackCount).containsExactly(tuple(1L, 18L));
            try (var list = Files.list(store.resolve("m"))) {
                assertThat(list.count()).as("every step's checkpoint").isEqualTo(5);
            }
            h.setProcessingTime(1_000 + Duration.ofMinutes(10).toMillis() - 1);
            assertThat(h.extractOutputValues()).hasSize(1);
            h.setProcessingTime(1_000 + Duration.ofMinutes(10).toMillis());
            out = h.extractOutputValues();
            assertThat(out).extracting(ModelUpdate::getVersion, ModelUpdate::getParentVersion, ModelUpdate::getFeedbackCount)
                    .containsExactly(tuple(1L, 0L, 18L), tuple(2L, 1L, 12L));
            assertThat(h.numKeyedStateEntries()).as("the head, the releases and the promoted one alone").isEqualTo(3);
            for (ModelUpdate u : out) {
                assertStored(u);
            }
        }
    }

    /**
     * A candidate trained to prefer the curt answers raises the NLL of the polite golden answers
     * and is refused, naming the figures; its samples are counted on model-rejections, training
     * starts again from the release, and the next good candidate is the next version, exactly as
     * if the refused steps had never been taken.
     */
    @Test
    void aCandidateTrainedOnInvertedLabelsIsRefusedByTheGoldenSetAndTrainingStartsAgainFromTheRelease(@TempDir Path tmp) throws Exception {
        Path golden = tmp.resolve("golden.jsonl");
        Files.write(golden, TwoStyleChat.trainFacts().stream().limit(8)
                .map(f -> "{\"prompt\": [{\"role\": \"user\", \"content\": \"" + f.question() + "\"}], \"completion\": [{\"role\": "
                        + "\"assistant\", \"content\": \"" + f.answer(TwoStyleChat.Style.A) + "\"}]}").toList());
        UpdateConfig c = config();
        UpdateConfig brisk = new UpdateConfig(c.baseModelDir(), c.baseModelName(), c.checkpointRoot(), 5e-3, c.beta(),
                KtoLoss.Type.KTO, c.loraRank(), c.loraAlpha(), c.loraDropout(), 5.0, c.seed(), c.maxLength());
        // The golden NLL check alone: this random model's greedy answers are loops from the start, which the others would judge.
        ReleaseConfig gated = new ReleaseConfig(2, Duration.ofHours(1), golden.toString(), 0.0, 100, 0, 0, 512, 0.05);
        String expected;
        try (var h = harness(brisk, gated)) {
            h.processElement1(batch("m", 1), 0);
            h.processElement1(batch("m", 2), 0);
            h.processElement1(inverted(batch("m", 3)), 0);
            h.processElement1(inverted(batch("m", 4)), 0);
            h.processElement1(batch("m", 5), 0);
            h.processElement1(batch("m", 6), 0);
            List<ModelUpdate> released = h.extractOutputValues();
            assertThat(released).as("refused: %s", h.getSideOutput(UpdateModel.REJECTIONS))
                    .extracting(ModelUpdate::getVersion, ModelUpdate::getParentVersion).containsExactly(tuple(1L, 0L), tuple(2L, 1L));
            ModelUpdate refused = h.getSideOutput(UpdateModel.REJECTIONS).poll().getValue();
            assertThat(refused.getRejectionReason()).startsWith("eval-gate: golden-nll rose");
            assertThat(refused.getVersion()).isEqualTo(2);
            assertThat(refused.getFeedbackCount()).isEqualTo(12);
            assertThat(refused.getMetrics().get(ReleaseGate.GOLDEN_NLL))
                    .isGreaterThan(refused.getMetrics().get(ReleaseGate.GOLDEN_NLL_BASELINE));
            assertThat(refused.getMetrics().get(ReleaseGate.GOLDEN_NLL_BASELINE)).isEqualTo(released.get(0).getMetrics().get(ReleaseGate.GOLDEN_NLL));
            assertThat(released.get(1).getMetrics().get(ReleaseGate.GOLDEN_NLL)).isLessThanOrEqualTo(released.get(0).getMetrics().get(ReleaseGate.GOLDEN_NLL));
            expected = released.get(1).getSha256();
        }
        try (var h = harness(brisk, gated)) {
            h.processElement1(batch("m", 1), 0);
            h.processElement1(batch("m", 2), 0);
            h.processElement1(batch("m", 5), 0);
            h.processElement1(batch("m", 6), 0);
            assertThat(h.extractOutputValues()).extracting(ModelUpdate::getSha256).last().isEqualTo(expected);
        }
    }

    private static KtoBatch inverted(KtoBatch batch) {
        return new KtoBatch(batch.modelId(), batch.samples().stream().map(v -> new SettledVote(v.modelId(), v.responseId(), v.userId(),
                v.eventId(), v.eventTime(), !v.desirable(), v.prompt(), v.completion(), v.modelVersion(), v.settledAt())).toList());
    }

    /**
     * Samples held out by their response id never train: a release trains exactly what a batch
     * without them would, counts them beside its trained samples, and is judged on them (against
     * the base model's loss, for the first).
     */
    @Test
    void heldOutSamplesNeverTrainAreCountedAndJudgeTheRelease() throws Exception {
        ReleaseConfig holdingHalf = new ReleaseConfig(1, Duration.ofHours(1), null, 0.05, 1.5, 0.5, 0.5, 512, 10);
        KtoBatch mixed = new KtoBatch("m", java.util.stream.Stream.of(batch("m", 1), batch("m", 2))
                .flatMap(b -> b.samples().stream()).toList());
        List<SettledVote> trainable = mixed.samples().stream().filter(v -> !HoldOut.isHeldOut(v.responseId(), 0.5)).toList();
        assertThat(trainable.size()).as("both kinds in the batch").isBetween(2, mixed.samples().size() - 2);
        ModelUpdate held;
        try (var h = harness(config(), holdingHalf)) {
            h.processElement1(mixed, 0);
            held = h.extractOutputValues().get(0);
        }
        assertThat(held.getFeedbackCount()).isEqualTo(trainable.size());
        assertThat(held.getMetrics().get(UpdateModel.HELD_OUT_SAMPLES)).isEqualTo(mixed.samples().size() - trainable.size());
        assertThat(held.getMetrics()).containsKeys(ReleaseGate.EVAL_LOSS, ReleaseGate.EVAL_LOSS_BASELINE, "eval_kl");
        try (var h = harness(config())) {
            h.processElement1(new KtoBatch("m", trainable), 0);
            assertThat(h.extractOutputValues().get(0).getSha256()).isEqualTo(held.getSha256());
        }
    }

    /** A batch left with fewer than two samples to train, the held-out ones aside, is a dropped step that still counts them all. */
    @Test
    void aBatchWithTooFewSamplesToTrainIsReportedWithItsCounts() throws Exception {
        KtoBatch batch = batch("m", 1);
        ReleaseConfig holdingAll = new ReleaseConfig(1, Duration.ofHours(1), null, 0.05, 1.5, 0.5, 1.0, 512, 0.05);
        try (var h = harness(config(), holdingAll)) {
            h.processElement1(batch, 0);
            assertThat(h.extractOutputValues()).isEmpty();
            ModelUpdate dropped = h.getSideOutput(UpdateModel.REJECTIONS).poll().getValue();
            assertThat(dropped.getRejectionReason()).isEqualTo(UpdateModel.TOO_FEW_SAMPLES);
            assertThat(dropped.getFeedbackCount()).isZero();
            assertThat(dropped.getMetrics()).containsEntry(UpdateModel.HELD_OUT_SAMPLES, (double) batch.samples().size());
        }
    }

    static ModelCommand rollback(String model, long toVersion) {
        return ModelCommand.newBuilder().setCommandId("cmd-" + model + "-" + toVersion).setModelId(model).setAction(ModelAction.ROLLBACK)
                .setToVersion(toVersion).setIssuedAt(java.time.Instant.parse("2026-12-01T00:00:00Z")).setIssuedBy("ops@test").setReason(null).build();
    }

    /**
     * A rollback to version 1 is announced as the next version on version 1's checkpoint, counting
     * no samples; the candidate pending when it came is discarded (its samples counted), and
     * training goes on from version 1 exactly as if nothing after it had been trained. Commands for
     * the current version, a version never released or a model without releases are dead-lettered.
     */
    @Test
    void aRollbackAnnouncesAnEarlierReleaseAgainAndTrainingGoesOnFromIt() throws Exception {
        ReleaseConfig everyOther = new ReleaseConfig(2, Duration.ofHours(1), null, 0.05, 1.5, 0.5, 0, 512, 0.05);
        String expected;
        try (var h = harness(config(), everyOther)) {
            for (int seed : new int[] {1, 2, 7, 8}) {
                h.processElement1(batch("m", seed), 0);
            }
            expected = h.extractOutputValues().get(1).getSha256();
        }
        try (var h = harness(config(), everyOther)) {
            h.processElement2(rollback("m", 1), 0);
            for (int seed = 1; seed <= 5; seed++) {
                h.processElement1(batch("m", seed), 0);
            }
            h.processElement2(rollback("m", 2), 0);
            h.processElement2(rollback("m", 9), 0);
            h.processElement2(rollback("other", 1), 0);
            h.processElement2(rollback("m", 1), 0);
            h.processElement1(batch("m", 7), 0);
            h.processElement1(batch("m", 8), 0);
            List<ModelUpdate> out = h.extractOutputValues();
            assertThat(out).extracting(ModelUpdate::getVersion, ModelUpdate::getParentVersion, ModelUpdate::getFeedbackCount,
                    ModelUpdate::getRestoresVersion).containsExactly(tuple(1L, 0L, 12L, null), tuple(2L, 1L, 12L, null),
                    tuple(3L, 2L, 0L, 1L), tuple(4L, 3L, 12L, null));
            ModelUpdate restored = out.get(2);
            assertThat(restored).extracting(ModelUpdate::getUri, ModelUpdate::getSha256, ModelUpdate::getFiles)
                    .containsExactly(out.get(0).getUri(), out.get(0).getSha256(), out.get(0).getFiles());
            assertThat(restored.getCommandId()).isEqualTo("cmd-m-1");
            assertThat(restored.getMetrics()).containsEntry("loss", out.get(0).getMetrics().get("loss")).containsEntry(UpdateModel.HELD_OUT_SAMPLES, 0.0);
            assertThat(out.get(3).getSha256()).as("trained on from version 1").isEqualTo(expected);
            ModelUpdate discarded = h.getSideOutput(UpdateModel.REJECTIONS).poll().getValue();
            assertThat(discarded.getRejectionReason()).startsWith(UpdateModel.ROLLED_BACK + ": the candidate of 1 steps was discarded by command cmd-m-1");
            assertThat(discarded).extracting(ModelUpdate::getVersion, ModelUpdate::getParentVersion, ModelUpdate::getFeedbackCount)
                    .containsExactly(3L, 2L, 6L);
            assertThat(h.getSideOutput(UpdateModel.REJECTIONS)).isEmpty();
            List<DeadLetter> dead = h.getSideOutput(DeadLetters.TAG).stream().map(r -> r.getValue()).toList();
            assertThat(dead).extracting(DeadLetter::getReason, DeadLetter::getDetail).containsExactly(
                    tuple("unknown-model", "model m has no release to roll back"),
                    tuple("unknown-version", "model m cannot roll back to version 2: its current version is 2 and the releases it can go back to are 1 to 1"),
                    tuple("unknown-version", "model m cannot roll back to version 9: its current version is 2 and the releases it can go back to are 1 to 1"),
                    tuple("unknown-model", "model other has no release to roll back"));
            assertThat(dead).allSatisfy(d -> assertThat(d.getSourceTopic()).isEqualTo("model-commands"));
            assertThat(WireCodec.modelCommands(java.time.Clock.systemUTC()).decode(dead.get(1).getOriginal().array()))
                    .isEqualTo(new Decoded.Valid<>(rollback("m", 2)));
        }
    }

    /** Votes on {@code n} answers of {@code version}, the first {@code up} of them thumbs up. */
    private static KtoBatch votesOn(String model, int seed, long version, int n, int up) {
        List<TwoStyleChat.Example> examples = TwoStyleChat.sample(TwoStyleChat.trainFacts(), n, 0.5, seed);
        List<SettledVote> samples = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            TwoStyleChat.Example e = examples.get(i);
            samples.add(new SettledVote(model, "r" + seed + "-" + i, "u" + i, "e" + seed + "-" + i, 0L, i < up,
                    List.of(new ChatMessage("user", e.fact().question())), e.answer(), version, 0L));
        }
        return new KtoBatch(model, samples);
    }

    /** Looks at the candidate's 20th and 40th votes. */
    private static final CanaryRule CANARY = new CanaryRule(20, 20, 40, 0.1, 0.02);

    /** The update stage with {@link #CANARY}, release 1 of model "m" announced and on trial. */
    private KeyedTwoInputStreamOperatorTestHarness<String, KtoBatch, ModelCommand, ModelUpdate> releaseOneOnTrial() throws Exception {
        var h = unopened(config(), EVERY_STEP, CANARY, KEEP_ALL);
        h.open();
        h.processElement1(batch("m", 1), 0);
        return h;
    }

    @Test
    void aCanaryAsGoodAsThePromotedReleaseIsPromotedAtItsLastLookAndTheNextReleaseWaitedForIt() throws Exception {
        try (var h = releaseOneOnTrial()) {
            h.processElement1(votesOn("m", 2, 0, 40, 30), 0);
            h.processElement1(votesOn("m", 3, 1, 20, 15), 0);
            assertThat(h.extractOutputValues()).as("no release while version 1 is on trial").hasSize(1);
            assertThat(h.getSideOutput(UpdateModel.DECISIONS)).as("nothing shown at the first look").isNull();
            h.processElement1(votesOn("m", 4, 1, 20, 15), 0);
            List<ModelUpdate> out = h.extractOutputValues();
            assertThat(out).extracting(ModelUpdate::getVersion, ModelUpdate::getParentVersion, ModelUpdate::getCanary, ModelUpdate::getFeedbackCount)
                    .containsExactly(tuple(1L, 0L, true, 6L), tuple(2L, 1L, true, 80L));
            ModelRelease decision = h.getSideOutput(UpdateModel.DECISIONS).poll().getValue();
            assertThat(decision).extracting(ModelRelease::getVersion, ModelRelease::getDecision, ModelRelease::getPromotedVersion,
                    ModelRelease::getCandidateVotes, ModelRelease::getCandidateUp, ModelRelease::getPromotedVotes, ModelRelease::getPromotedUp)
                    .containsExactly(1L, ReleaseDecision.PROMOTE, 0L, 40L, 30L, 40L, 30L);
            assertThat(decision.getReason()).isEqualTo("canary promote: v1 30/40 up (75.0%) against v0 30/40 up (75.0%)");
            assertThat(h.getSideOutput(UpdateModel.DECISIONS)).isEmpty();
        }
    }

    @Test
    void aCanaryVotedWorseIsRolledBackAndTrainingGoesOnFromThePromotedRelease() throws Exception {
        try (var h = releaseOneOnTrial()) {
            h.processElement1(votesOn("m", 2, 0, 40, 36), 0);
            h.processElement1(votesOn("m", 3, 1, 20, 4), 0);
            List<ModelUpdate> out = h.extractOutputValues();
            assertThat(out).extracting(ModelUpdate::getVersion, ModelUpdate::getParentVersion, ModelUpdate::getCanary, ModelUpdate::getFeedbackCount)
                    .as("version 2 trained from the base model again, on the batch that decided").containsExactly(tuple(1L, 0L, true, 6L), tuple(2L, 0L, true, 20L));
            ModelRelease decision = h.getSideOutput(UpdateModel.DECISIONS).poll().getValue();
            assertThat(decision).extracting(ModelRelease::getVersion, ModelRelease::getDecision, ModelRelease::getCandidateVotes,
                    ModelRelease::getCandidateUp, ModelRelease::getPromotedVotes, ModelRelease::getPromotedUp)
                    .containsExactly(1L, ReleaseDecision.ROLLBACK, 20L, 4L, 40L, 36L);
            ModelUpdate discarded = h.getSideOutput(UpdateModel.REJECTIONS).poll().getValue();
            assertThat(discarded.getRejectionReason()).isEqualTo(UpdateModel.CANARY_ROLLED_BACK
                    + ": the candidate of 1 steps was trained on version 1, which its canary rolled back");
            assertThat(discarded).extracting(ModelUpdate::getVersion, ModelUpdate::getParentVersion, ModelUpdate::getFeedbackCount)
                    .containsExactly(2L, 1L, 40L);
            assertThat(out.get(0).getFeedbackCount() + discarded.getFeedbackCount() + out.get(1).getFeedbackCount())
                    .as("every settled sample accounted for").isEqualTo(6 + 40 + 20);

            // An operator's rollback ends the trial of version 2; its restore of version 1 is promoted at once.
            h.processElement2(rollback("m", 1), 0);
            ModelRelease ended = h.getSideOutput(UpdateModel.DECISIONS).poll().getValue();
            assertThat(ended).extracting(ModelRelease::getVersion, ModelRelease::getDecision).containsExactly(2L, ReleaseDecision.ROLLBACK);
            assertThat(ended.getReason()).startsWith("ended by command cmd-m-1 (rollback to version 1)");
            ModelUpdate restored = h.extractOutputValues().get(2);
            assertThat(restored).extracting(ModelUpdate::getVersion, ModelUpdate::getRestoresVersion, ModelUpdate::getCanary)
                    .containsExactly(3L, 1L, false);
            h.processElement1(votesOn("m", 5, 3, 6, 3), 0);
            assertThat(h.extractOutputValues().get(3)).extracting(ModelUpdate::getVersion, ModelUpdate::getParentVersion, ModelUpdate::getCanary)
                    .as("the next canary, judged against the restore").containsExactly(4L, 3L, true);
        }
    }

    /** The checkpoint directories of model "m" in the store. */
    private java.util.Set<String> stored() throws Exception {
        try (var list = Files.list(store.resolve("m"))) {
            return list.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet());
        }
    }

    /** The directory {@code element} made in the store. */
    private String step(ThrowingRunnable element) throws Exception {
        java.util.Set<String> before = stored();
        element.run();
        java.util.Set<String> after = stored();
        after.removeAll(before);
        assertThat(after).hasSize(1);
        return after.iterator().next();
    }

    private interface ThrowingRunnable {
        void run() throws Exception;
    }

    /**
     * The store keeps the last two releases, the version a rollback named and the pending
     * candidate's newest step; anything else goes once two completed Flink checkpoints (those
     * retained) left it out, and one more. A restore from the older retained checkpoint finds every
     * file it needs and trains on exactly as before.
     */
    @Test
    void theStoreKeepsTheLastReleasesWhatARollbackNamedAndWhatRetainedCheckpointsNeed() throws Exception {
        ReleaseConfig everyOther = new ReleaseConfig(2, Duration.ofHours(1), null, 0.05, 1.5, 0.5, 0, 512, 0.05);
        StoreRetention keepTwo = new StoreRetention(2, 2);
        try (var h = unopened(config(), everyOther, keepTwo)) {
            h.open();
            h.processElement1(batch("m", 1), 0);
            String d1 = stored().iterator().next();
            String d2 = step(() -> h.processElement1(batch("m", 2), 0));
            h.snapshot(1, 1);
            h.notifyOfCompletedCheckpoint(1);
            String d3 = step(() -> h.processElement1(batch("m", 3), 0));
            OperatorSubtaskState older = h.snapshot(2, 2);
            h.notifyOfCompletedCheckpoint(2);
            assertThat(stored()).containsExactlyInAnyOrder(d1, d2, d3);
            String d4 = step(() -> h.processElement1(batch("m", 4), 0));
            h.snapshot(3, 3);
            h.notifyOfCompletedCheckpoint(3);
            assertThat(stored()).as("the first step, left out since checkpoint 1").containsExactlyInAnyOrder(d2, d3, d4);
            assertThat(h.extractOutputValues()).extracting(ModelUpdate::getSha256).containsExactly(d2, d4);

            try (var restored = unopened(config(), everyOther, keepTwo)) {
                restored.initializeState(older);
                restored.open();
                restored.processElement1(batch("m", 4), 0);
                assertThat(restored.extractOutputValues()).extracting(ModelUpdate::getVersion, ModelUpdate::getSha256)
                        .containsExactly(tuple(2L, d4));
            }

            h.processElement2(rollback("m", 1), 0);
            String d5 = step(() -> h.processElement1(batch("m", 5), 0));
            String d6 = step(() -> h.processElement1(batch("m", 6), 0));
            String d7 = step(() -> h.processElement1(batch("m", 7), 0));
            String d8 = step(() -> h.processElement1(batch("m", 8), 0));
            for (long checkpoint = 4; checkpoint <= 6; checkpoint++) {
                h.snapshot(checkpoint, checkpoint);
                h.notifyOfCompletedCheckpoint(checkpoint);
            }
            assertThat(h.extractOutputValues()).extracting(ModelUpdate::getVersion, ModelUpdate::getSha256)
                    .containsExactly(tuple(1L, d2), tuple(2L, d4), tuple(3L, d2), tuple(4L, d6), tuple(5L, d8));
            assertThat(stored()).as("versions 1 (a rollback named it), 4 and 5; %s, %s and %s gone", d4, d5, d7)
                    .containsExactlyInAnyOrder(d2, d6, d8);
            h.processElement2(rollback("m", 2), 0);
            assertThat(h.getSideOutput(DeadLetters.TAG)).extracting(r -> r.getValue().getDetail()).containsExactly(
                    "model m cannot roll back to version 2: its current version is 5 and the releases it can go back to are 4 to 4");
            assertThat(h.extractOutputValues()).hasSize(5);
        }
    }
}
