package dev.kaizen.serving.follow;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.commons.io.FileUtils;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.kaizen.checkpoints.CheckpointStore;
import dev.kaizen.checkpoints.Lineage;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ReleaseDecision;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;

/**
 * Follows {@code model-updates} for one model with read_committed, so only versions whose Flink
 * checkpoint completed are ever seen, and hands a version to its {@link Target} only when its
 * lineage is unbroken from the target's current one (every version up to it announced, each
 * naming an older one as its parent; skipping ahead over several is a catch-up) and every one of its files
 * lies inside the checkpoint store and hashes to what was announced. Anything else is refused,
 * logged and counted by reason, and the target keeps what it has. On start it reads the topic from
 * the beginning and brings the target to the latest good version before it returns. Given the
 * rejections topic too, it keeps the model's candidates the job's release gate refused, for the
 * page to mark.
 * <p>Given the releases topic (model-releases), it follows the job's canary verdicts: the target's
 * version is the promoted release, the newest one announced without a canary trial or promoted
 * since, and never one rolled back; a target that {@linkplain Target#servesCandidates() serves
 * candidates} also gets the candidate, the newest canary release after it still undecided.
 */
public final class VersionFollower implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(VersionFollower.class);

    /**
     * Which model's announcements to follow, and the checkpoint store they must point into;
     * {@code rejectionsTopic} (model-rejections, or null) is read for the refused candidates only.
     */
    public record Options(String modelId, KafkaClients kafka, String topic, String storeRoot, String rejectionsTopic, String releasesTopic) {

        public Options(String modelId, KafkaClients kafka, String topic, String storeRoot) {
            this(modelId, kafka, topic, storeRoot, null, null);
        }

        public Options(String modelId, KafkaClients kafka, String topic, String storeRoot, String rejectionsTopic) {
            this(modelId, kafka, topic, storeRoot, rejectionsTopic, null);
        }
    }

    /** How the job's release gate begins the reason of a candidate it refused. */
    static final String GATE_REFUSAL = "eval-gate";

    /** What a verified version is put into: serving's own model, or a vLLM server. */
    public interface Target {
        /** The version in service now (the promoted release); 0 is the base model. */
        long version();

        /** Puts a version into service from its verified files (in {@code dir} for this call only); throws to refuse it. */
        void apply(ModelUpdate update, Path dir) throws Exception;

        /**
         * Whether it reads the versions' files; one that does not (a gateway, whose upstream loads them
         * itself) is handed {@code dir} null and nothing is fetched from the store.
         */
        default boolean needsFiles() {
            return true;
        }

        /** Whether it serves a canary candidate beside the promoted release; one that does not serves promoted releases only. */
        default boolean servesCandidates() {
            return false;
        }

        /** The candidate in service beside the promoted release, or {@link #NO_CANDIDATE}. */
        default long candidate() {
            return NO_CANDIDATE;
        }

        /** Puts a candidate into service from its verified files, or takes it out ({@code update} null). */
        default void applyCandidate(ModelUpdate update, Path dir) throws Exception {
            throw new UnsupportedOperationException("this target serves promoted releases only");
        }
    }

    /** What {@link Target#candidate()} says when no candidate is in service. */
    public static final long NO_CANDIDATE = -1;

    private final Options options;
    private final Target target;
    private final CheckpointStore store;
    private final WireCodec<ModelUpdate> codec = WireCodec.modelUpdates(Clock.systemUTC());
    private final WireCodec<ModelRelease> releaseCodec = WireCodec.modelReleases(Clock.systemUTC());
    private final Map<Long, ModelRelease> decisions = new TreeMap<>();
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final NavigableMap<Long, ModelUpdate> announced = new TreeMap<>();
    private final List<ModelUpdate> refusedCandidates = new ArrayList<>();
    private final Set<Long> refused = new HashSet<>();
    private final Map<String, AtomicLong> refusals = new ConcurrentHashMap<>();
    private final AtomicLong applied = new AtomicLong();
    private final Thread thread;
    private volatile boolean running = true;

    private VersionFollower(Options options, Target target) {
        this.options = options;
        this.target = target;
        this.store = new CheckpointStore(options.storeRoot());
        this.consumer = new KafkaConsumer<>(options.kafka().consumerConfig(Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false)),
                new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.thread = new Thread(this::follow, "version-follower-" + options.modelId());
        thread.setDaemon(true);
    }

    /** Brings {@code target} to the latest good version announced so far, then follows the topic on a thread of its own. */
    public static VersionFollower start(Options options, Target target) {
        VersionFollower follower = new VersionFollower(options, target);
        try {
            follower.catchUp();
        } catch (RuntimeException e) {
            follower.close();
            throw e;
        }
        follower.thread.start();
        return follower;
    }

    /** The canary verdicts on this model's releases so far, by version (a later verdict on a version replaces an earlier one). */
    public synchronized Map<Long, ModelRelease> decisions() {
        return Map.copyOf(decisions);
    }

    /** Every version announced for this model so far, in order. */
    public synchronized List<ModelUpdate> announced() {
        return List.copyOf(announced.values());
    }

    /** The candidates the job's release gate refused so far, in the order they were reported. */
    public synchronized List<ModelUpdate> refusedCandidates() {
        return List.copyOf(refusedCandidates);
    }

    /** Refused versions by reason: {@code lineage}, {@code checkpoint}, {@code target}, {@code undecodable}. */
    public Map<String, Long> refusals() {
        Map<String, Long> counts = new TreeMap<>();
        refusals.forEach((reason, n) -> counts.put(reason, n.get()));
        return counts;
    }

    /** How many versions were put into service. */
    public long applied() {
        return applied.get();
    }

    private void catchUp() {
        List<TopicPartition> partitions = new ArrayList<>(partitions(options.topic()));
        if (partitions.isEmpty()) {
            // Partitions are assigned once: following a topic that does not exist yet would never see a version.
            throw new IllegalStateException("the topic " + options.topic() + " does not exist at " + options.kafka().bootstrapServers()
                    + "; create it first (bin/kaizen topics create)");
        }
        if (options.rejectionsTopic() != null) {
            List<TopicPartition> rejections = partitions(options.rejectionsTopic());
            if (rejections.isEmpty()) {
                LOG.warn("the topic {} does not exist: refused candidates are not shown", options.rejectionsTopic());
            }
            partitions.addAll(rejections);
        }
        if (options.releasesTopic() != null) {
            List<TopicPartition> releases = partitions(options.releasesTopic());
            if (releases.isEmpty()) {
                // Without the verdicts a canary release would never be promoted, nor one rolled back known.
                throw new IllegalStateException("the topic " + options.releasesTopic() + " does not exist at "
                        + options.kafka().bootstrapServers() + "; create it first (bin/kaizen topics create)");
            }
            partitions.addAll(releases);
        }
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
        while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
            ingest(consumer.poll(Duration.ofMillis(200)));
        }
        advance();
    }

    private List<TopicPartition> partitions(String topic) {
        return consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream().map(p -> new TopicPartition(p.topic(), p.partition())).toList();
    }

    private void follow() {
        try {
            while (running) {
                ingest(consumer.poll(Duration.ofMillis(200)));
                advance();
            }
        } catch (WakeupException e) {
            // closing
        } catch (RuntimeException e) {
            LOG.error("following {} stopped; version {} stays in service", options.topic(), target.version(), e);
        }
    }

    private void ingest(Iterable<ConsumerRecord<byte[], byte[]>> records) {
        for (ConsumerRecord<byte[], byte[]> record : records) {
            if (record.topic().equals(options.releasesTopic())) {
                decided(record);
                continue;
            }
            Decoded<ModelUpdate> decoded = codec.decode(record.value());
            if (!(decoded instanceof Decoded.Valid<ModelUpdate> valid)) {
                undecodable(record, (Decoded.Invalid<ModelUpdate>) decoded);
                continue;
            }
            ModelUpdate update = valid.value();
            if (!update.getModelId().equals(options.modelId())) {
                continue;
            }
            synchronized (this) {
                if (!record.topic().equals(options.topic())) {
                    if (update.getRejectionReason() != null && update.getRejectionReason().startsWith(GATE_REFUSAL)) {
                        refusedCandidates.add(update);
                    }
                } else {
                    announced.putIfAbsent(update.getVersion(), update);
                }
            }
        }
    }

    private void decided(ConsumerRecord<byte[], byte[]> record) {
        Decoded<ModelRelease> decoded = releaseCodec.decode(record.value());
        if (!(decoded instanceof Decoded.Valid<ModelRelease> valid)) {
            undecodable(record, (Decoded.Invalid<ModelRelease>) decoded);
            return;
        }
        if (valid.value().getModelId().equals(options.modelId())) {
            synchronized (this) {
                decisions.put(valid.value().getVersion(), valid.value());
            }
        }
    }

    private void undecodable(ConsumerRecord<byte[], byte[]> record, Decoded.Invalid<?> invalid) {
        refuse("undecodable", record.topic() + "-" + record.partition() + "@" + record.offset() + ": " + invalid.rejection().message());
    }

    /** Whether {@code update} may be the promoted release: announced without a trial or promoted, and not rolled back. */
    private synchronized boolean promotable(ModelUpdate update) {
        ModelRelease verdict = decisions.get(update.getVersion());
        return verdict == null ? !update.getCanary() : verdict.getDecision() == ReleaseDecision.PROMOTE;
    }

    /** The newest canary release after {@code promoted}, up to {@code reachable}, still on trial; {@link #NO_CANDIDATE} if none. */
    private synchronized long candidateAfter(long promoted, long reachable) {
        for (long v = reachable; v > promoted; v--) {
            if (announced.get(v).getCanary() && !decisions.containsKey(v) && !refused.contains(v)) {
                return v;
            }
        }
        return NO_CANDIDATE;
    }

    /**
     * Applies the newest promotable version whose lineage from the current one is unbroken and
     * whose files check out; a newer one that fails leaves the next newer in line to be tried.
     * Then brings the target's candidate up to date.
     */
    private void advance() {
        advancePromoted();
        if (target.servesCandidates()) {
            advanceCandidate();
        }
    }

    private void advanceCandidate() {
        long wanted = candidateAfter(target.version(), Lineage.reachable(announced, target.version()));
        if (wanted == target.candidate()) {
            return;
        }
        if (wanted == NO_CANDIDATE) {
            long was = target.candidate();
            try {
                target.applyCandidate(null, null);
                LOG.info("{}: no candidate in service, was @{}", options.modelId(), was);
            } catch (Exception e) {
                LOG.warn("{}: could not take candidate @{} out of service", options.modelId(), was, e);
            }
            return;
        }
        ModelUpdate update = announced.get(wanted);
        try {
            apply(update, target::applyCandidate);
            LOG.info("{}@{} in service as the canary candidate (sha256 {})", options.modelId(), wanted, update.getSha256());
        } catch (Refusal e) {
            refused.add(wanted);
            refuse(e.reason, "candidate " + wanted + " at " + update.getUri() + ": " + e.getMessage());
        }
    }

    private void advancePromoted() {
        long from = target.version();
        long reachable = Lineage.reachable(announced, from);
        for (ModelUpdate beyond : announced.tailMap(reachable, false).values()) {
            if (refused.add(beyond.getVersion())) {
                refuse("lineage", "version " + beyond.getVersion() + " (parent " + beyond.getParentVersion() + ") does not follow on from "
                        + reachable + ": a version is missing or names a parent that is not older");
            }
        }
        for (long v = reachable; v > from; v--) {
            ModelUpdate update = announced.get(v);
            if (refused.contains(v) || !promotable(update)) {
                continue;
            }
            try {
                apply(update, target::apply);
                applied.incrementAndGet();
                LOG.info("{}@{} in service (sha256 {}), was @{}", options.modelId(), v, update.getSha256(), from);
                return;
            } catch (Refusal e) {
                refused.add(v);
                refuse(e.reason, "version " + v + " at " + update.getUri() + ": " + e.getMessage());
            }
        }
    }

    /** Why a version was not put into service: {@code checkpoint} (its files) or {@code target} (the target refused it). */
    private static final class Refusal extends Exception {
        final String reason;

        Refusal(String reason, Exception cause) {
            super(cause.getMessage(), cause);
            this.reason = reason;
        }
    }

    /** How a verified version goes into the target: as the promoted release or as the candidate. */
    private interface Into {
        void accept(ModelUpdate update, Path dir) throws Exception;
    }

    /** Fetches the checkpoint into a scratch directory, verifying every file on the way, and hands it to the target. */
    private void apply(ModelUpdate update, Into into) throws Refusal {
        if (!target.needsFiles()) {
            try {
                into.accept(update, null);
                return;
            } catch (Exception e) {
                throw new Refusal("target", e);
            }
        }
        Path local = null;
        try {
            local = Files.createTempDirectory("kaizen-version-");
            store.fetch(CheckpointStore.Stored.of(update), local);
        } catch (IOException | RuntimeException e) {
            FileUtils.deleteQuietly(local == null ? null : local.toFile());
            throw new Refusal("checkpoint", e);
        }
        try {
            into.accept(update, local);
        } catch (Exception e) {
            throw new Refusal("target", e);
        } finally {
            FileUtils.deleteQuietly(local.toFile());
        }
    }

    private void refuse(String reason, String detail) {
        refusals.computeIfAbsent(reason, r -> new AtomicLong()).incrementAndGet();
        LOG.warn("refused ({}): {}; {}@{} stays in service", reason, detail, options.modelId(), target.version());
    }

    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        if (thread.isAlive()) {
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        consumer.close();
    }
}
