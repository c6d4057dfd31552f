package dev.kaizen.serving.follow;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import ai.djl.Device;
import org.apache.commons.io.FileUtils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.generate.SamplingParams;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.checkpoints.CheckpointStore;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ReleaseDecision;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.serving.Announcements;
import dev.kaizen.testkit.EmbeddedKafkaExtension;

/** The follower against a real broker and real checkpoints in a real store: what is served, and what never is. */
class ModelFollowerTest {

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @TempDir
    static Path tmp;

    private static Path base;
    private static LlamaForCausalLM trainer;
    private static CheckpointStore store;
    private static Announcements announcements;

    @BeforeAll
    static void baseModel() throws IOException {
        base = tmp.resolve("base");
        ModelPresets.TINY.write(base, 5);
        trainer = LlamaForCausalLM.load(base, Device.cpu());
        store = new CheckpointStore(tmp.resolve("store").toUri().toString());
        announcements = new Announcements(trainer, store, tmp, KAFKA.kafka().bootstrapServers());
    }

    @AfterAll
    static void closeTrainer() {
        trainer.close();
    }

    private static ModelUpdate version(long version, long parent, long seed) throws IOException {
        return announcements.version(version, parent, seed);
    }

    private static String topic() {
        String topic = "model-updates-" + UUID.randomUUID();
        KAFKA.kafka().createTopics(1, topic);
        return topic;
    }

    private static void send(String topic, boolean commit, ModelUpdate... updates) {
        announcements.send(topic, commit, updates);
    }

    private static ModelFollower follow(String topic) {
        return ModelFollower.start(new ModelFollower.Options(base,
                new VersionFollower.Options("tiny", KafkaClients.of(KAFKA.kafka().bootstrapServers()), topic, store.root()), Device.cpu()));
    }

    private static long served(ModelFollower follower) {
        return follower.version();
    }

    private static long refusals(ModelFollower follower, String reason) {
        return follower.refusals().getOrDefault(reason, 0L);
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("waiting for " + what).isLessThan(deadline);
            Thread.sleep(50);
        }
    }

    /** Gives the follower time to act on what was sent, by sending a good version behind it and waiting for that. */
    private static void settle(ModelFollower follower, String topic, ModelUpdate marker) throws InterruptedException {
        send(topic, true, marker);
        await("version " + marker.getVersion(), () -> served(follower) == marker.getVersion());
    }

    private static ModelUpdate canary(long version, long parent, long seed) throws IOException {
        return ModelUpdate.newBuilder(version(version, parent, seed)).setCanary(true).build();
    }

    private static void decide(String topic, long version, ReleaseDecision decision, long promoted) {
        ModelRelease verdict = ModelRelease.newBuilder().setModelId("tiny").setVersion(version).setDecision(decision)
                .setPromotedVersion(promoted).setCandidateVotes(400).setCandidateUp(300).setPromotedVotes(400).setPromotedUp(300)
                .setDecidedAt(java.time.Instant.now()).setReason("test").build();
        KAFKA.kafka().send(topic, List.of(WireCodec.modelReleases(java.time.Clock.systemUTC()).encode(verdict)));
    }

    /** Of 2,000 users, how many the follower gives the candidate. */
    private static long onCandidate(ModelFollower follower) {
        long n = 0;
        for (int u = 0; u < 2000; u++) {
            ServedModel s = follower.acquire("user-" + u);
            n += s.version() == follower.candidateVersion() ? 1 : 0;
            s.release();
        }
        return n;
    }

    @Test
    void aCanaryAnswersItsShareOfUsersUntilTheJobPromotesOrRollsItBack() throws Exception {
        String topic = topic();
        String releases = "model-releases-" + UUID.randomUUID();
        KAFKA.kafka().createTopics(1, releases);
        send(topic, true, version(1, 0, 41), canary(2, 1, 42));
        try (ModelFollower follower = ModelFollower.start(new ModelFollower.Options(base, new VersionFollower.Options("tiny",
                KafkaClients.of(KAFKA.kafka().bootstrapServers()), topic, store.root(), null, releases), Device.cpu(), 0.1))) {
            assertThat(served(follower)).as("a canary is not promoted by being announced").isEqualTo(1);
            assertThat(follower.candidateVersion()).isEqualTo(2);
            assertThat(onCandidate(follower)).as("a tenth of the users").isBetween(150L, 250L);
            for (int u = 0; u < 50; u++) {
                java.util.Set<Long> versions = new java.util.HashSet<>();
                for (int again = 0; again < 5; again++) {
                    ServedModel s = follower.acquire("user-" + u);
                    versions.add(s.version());
                    s.release();
                }
                assertThat(versions).as("a user stays on one release").hasSize(1);
            }

            decide(releases, 2, ReleaseDecision.ROLLBACK, 1);
            await("the candidate taken out", () -> follower.candidateVersion() == VersionFollower.NO_CANDIDATE);
            assertThat(served(follower)).isEqualTo(1);
            assertThat(onCandidate(follower)).as("no user on version 2 any more").isZero();

            send(topic, true, canary(3, 1, 43));
            await("candidate 3", () -> follower.candidateVersion() == 3);
            assertThat(served(follower)).isEqualTo(1);
            decide(releases, 3, ReleaseDecision.PROMOTE, 1);
            await("version 3 promoted", () -> served(follower) == 3);
            assertThat(follower.candidateVersion()).isEqualTo(VersionFollower.NO_CANDIDATE);
            assertThat(follower.decisions()).containsOnlyKeys(2L, 3L);
            assertThat(follower.refusals()).isEmpty();
        }
    }

    @Test
    void startsOnTheLatestCommittedVersionAndFollowsGoodOnes() throws Exception {
        String topic = topic();
        send(topic, true, version(1, 0, 1), version(2, 1, 2));
        try (ModelFollower follower = follow(topic)) {
            assertThat(served(follower)).as("caught up before answering anything").isEqualTo(2);
            List<Double> waits = new CopyOnWriteArrayList<>();
            follower.onFirstServed(waits::add);
            ModelUpdate v3 = version(3, 2, 3);
            send(topic, true, v3);
            await("version 3", () -> served(follower) == 3);
            // Only version 3 was announced while this follower ran: 1 and 2 came before it started.
            assertThat(waits).singleElement().satisfies(w -> assertThat(w).isBetween(0.0, 60.0));
            ServedModel s = follower.acquire(null);
            assertThat(s.update().getSha256()).isEqualTo(v3.getSha256());
            s.release();
            assertThat(follower.announced()).extracting(ModelUpdate::getVersion).containsExactly(1L, 2L, 3L);
            assertThat(follower.refusals()).isEmpty();
        }
    }

    @Test
    void badCheckpointsAreNeverServedAndTheCurrentVersionKeepsServing() throws Exception {
        String topic = topic();
        send(topic, true, version(1, 0, 11));
        try (ModelFollower follower = follow(topic)) {
            assertThat(served(follower)).isEqualTo(1);

            ModelUpdate wrongSha = version(2, 1, 12);
            Map<String, String> lied = new HashMap<>(wrongSha.getFiles());
            lied.put("adapter_model.safetensors", "0".repeat(64));
            wrongSha.setFiles(lied);
            wrongSha.setSha256(CheckpointStore.manifestSha256(lied));
            send(topic, true, wrongSha);
            settle(follower, topic, version(3, 2, 13));    // v2's lineage still counts: its announcement is committed

            ModelUpdate missing = version(4, 3, 14);
            Files.delete(Path.of(java.net.URI.create(missing.getUri()).getPath()).resolve("adapter_config.json"));
            ModelUpdate outside = version(5, 4, 15);
            Path copy = tmp.resolve("elsewhere-" + UUID.randomUUID());
            FileUtils.copyDirectory(Path.of(java.net.URI.create(outside.getUri()).getPath()).toFile(), copy.toFile());
            outside.setUri(copy.toUri().toString());
            send(topic, true, missing, outside);
            await("the third checkpoint refusal", () -> refusals(follower, "checkpoint") >= 3);
            assertThat(served(follower)).as("neither a missing file nor a checkpoint outside the store").isEqualTo(3);
            assertThat(follower.refusals()).containsEntry("checkpoint", 3L);
        }
    }

    @Test
    void aVersionGapAndAnAbortedTransactionAreNeverServed() throws Exception {
        String topic = topic();
        send(topic, true, version(1, 0, 21));
        try (ModelFollower follower = follow(topic)) {
            ModelUpdate aborted = version(2, 1, 22);
            send(topic, false, aborted);
            ModelUpdate committed = version(2, 1, 23);
            send(topic, true, committed);
            await("version 2", () -> served(follower) == 2);
            ServedModel s = follower.acquire(null);
            assertThat(s.update().getSha256()).as("the committed v2, not the aborted one").isEqualTo(committed.getSha256())
                    .isNotEqualTo(aborted.getSha256());
            s.release();

            send(topic, true, version(4, 3, 24));          // v3 never announced
            send(topic, true, version(5, 3, 25));          // and a parent that is not the version before
            await("both lineage refusals", () -> refusals(follower, "lineage") >= 2);
            assertThat(served(follower)).isEqualTo(2);
            assertThat(follower.refusals()).containsEntry("lineage", 2L);
        }
    }

    @Test
    void requestsInFlightDuringSwapsFinishOnTheVersionTheyStartedOn() throws Exception {
        String topic = topic();
        try (ModelFollower follower = follow(topic)) {
            AtomicBoolean stop = new AtomicBoolean();
            List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
            Set<Long> seen = ConcurrentHashMap.newKeySet();
            AtomicInteger requests = new AtomicInteger();
            SamplingParams params = new SamplingParams(12, 0, 0, 1, 0, List.of(), false);
            int[] prompt = follower.tokenizer().encode("Hello there");
            List<Thread> clients = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                Thread client = new Thread(() -> {
                    while (!stop.get()) {
                        ServedModel s = follower.acquire(null);
                        try {
                            long version = s.version();
                            var generation = s.generator().generate(prompt, params, piece -> {});
                            assertThat(s.freed()).isFalse();
                            assertThat(s.version()).isEqualTo(version);
                            assertThat(generation.ids()).hasSize(12);
                            seen.add(version);
                            requests.incrementAndGet();
                        } catch (Throwable t) {
                            errors.add(t);
                        } finally {
                            s.release();
                        }
                    }
                });
                client.start();
                clients.add(client);
            }
            ServedModel held = follower.acquire(null);             // a long request, still on version 0 after every swap
            for (long v = 1; v <= 4; v++) {
                send(topic, true, version(v, v - 1, 30 + v));
                long expected = v;
                await("version " + v, () -> served(follower) == expected);
            }
            stop.set(true);
            for (Thread client : clients) {
                client.join();
            }
            assertThat(errors).isEmpty();
            assertThat(follower.swaps()).isEqualTo(4);
            assertThat(seen).as("requests ran on several versions").hasSizeGreaterThan(1);
            assertThat(held.version()).isZero();
            assertThat(held.freed()).isFalse();
            assertThat(held.generator().generate(prompt, params, piece -> {}).ids()).hasSize(12);
            held.release();
            assertThat(held.freed()).as("the last holder frees a swapped-out version").isTrue();
        }
    }
}
