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
import java.util.concurrent.atomic.AtomicReference;

import ai.djl.Device;
import org.apache.commons.io.FileUtils;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.kaizen.alignment.generate.Generator;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.operators.update.CheckpointStore;
import dev.kaizen.schemas.CheckpointFormat;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;

/**
 * Keeps the newest good version of one model in memory by following {@code model-updates} with
 * read_committed, so only versions whose Flink checkpoint completed are ever seen. A version is
 * swapped in only when its lineage is unbroken from the one served (every version up to it
 * announced, each naming the one before; skipping ahead over several is a catch-up) and every one
 * of its files lies inside the checkpoint store and hashes to what was announced. Anything else is
 * refused, logged and counted by reason, and the current version keeps serving. On start it reads
 * the topic from the beginning and serves the latest good version before it answers anything.
 */
public final class ModelFollower implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ModelFollower.class);

    /** What to follow: the base model directory, which model, where its announcements and checkpoints are. */
    public record Options(Path baseDir, String modelId, String bootstrapServers, String topic, String storeRoot, Device device) {}

    private final Options options;
    private final ChatTokenizer tokenizer;
    private final LlamaForCausalLM base;
    private final CheckpointStore store;
    private final WireCodec<ModelUpdate> codec = WireCodec.modelUpdates(Clock.systemUTC());
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final AtomicReference<ServedModel> current = new AtomicReference<>();
    private final NavigableMap<Long, ModelUpdate> announced = new TreeMap<>();
    private final Set<Long> refused = new HashSet<>();
    private final Map<String, AtomicLong> refusals = new ConcurrentHashMap<>();
    private final AtomicLong swaps = new AtomicLong();
    private final Thread thread;
    private volatile boolean running = true;

    private ModelFollower(Options options) {
        this.options = options;
        this.tokenizer = ChatTokenizer.load(options.baseDir());
        // The base merges adapters on the follower thread only; version 0 is served by its own copy.
        this.base = LlamaForCausalLM.load(options.baseDir(), options.device());
        this.store = new CheckpointStore(options.storeRoot());
        current.set(served(0, null, LlamaForCausalLM.load(options.baseDir(), options.device())));
        this.consumer = new KafkaConsumer<>(Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, options.bootstrapServers(),
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed", ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false),
                new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.thread = new Thread(this::follow, "model-follower-" + options.modelId());
    }

    /** Loads the latest good version announced so far, then follows the topic on a thread of its own. */
    public static ModelFollower start(Options options) {
        ModelFollower follower = new ModelFollower(options);
        try {
            follower.catchUp();
        } catch (RuntimeException e) {
            follower.close();
            throw e;
        }
        follower.thread.setDaemon(true);
        follower.thread.start();
        return follower;
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

    public ChatTokenizer tokenizer() {
        return tokenizer;
    }

    public String modelId() {
        return options.modelId();
    }

    /** How many tokens, prompt and answer together, the model can attend to. */
    public int contextLength() {
        return base.config().maxPositionEmbeddings();
    }

    /** Every version announced for this model so far, in order. */
    public synchronized List<ModelUpdate> announced() {
        return List.copyOf(announced.values());
    }

    /** Refused versions by reason: {@code lineage}, {@code checkpoint}, {@code undecodable}. */
    public Map<String, Long> refusals() {
        Map<String, Long> counts = new TreeMap<>();
        refusals.forEach((reason, n) -> counts.put(reason, n.get()));
        return counts;
    }

    public long swaps() {
        return swaps.get();
    }

    private void catchUp() {
        List<TopicPartition> partitions = consumer.partitionsFor(options.topic(), Duration.ofSeconds(30)).stream()
                .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
        while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
            ingest(consumer.poll(Duration.ofMillis(200)));
        }
        advance();
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
            LOG.error("following {} stopped; version {} keeps serving", options.topic(), current.get().version(), e);
        }
    }

    private void ingest(Iterable<ConsumerRecord<byte[], byte[]>> records) {
        for (ConsumerRecord<byte[], byte[]> record : records) {
            Decoded<ModelUpdate> decoded = codec.decode(record.value());
            if (!(decoded instanceof Decoded.Valid<ModelUpdate> valid)) {
                refuse("undecodable", record.topic() + "-" + record.partition() + "@" + record.offset() + ": "
                        + ((Decoded.Invalid<ModelUpdate>) decoded).rejection().message());
                continue;
            }
            ModelUpdate update = valid.value();
            if (update.getModelId().equals(options.modelId())) {
                synchronized (this) {
                    announced.putIfAbsent(update.getVersion(), update);
                }
            }
        }
    }

    /**
     * Swaps in the newest version whose lineage from the current one is unbroken and whose files
     * check out; a newer one that fails its files leaves the next newer in line to be tried.
     */
    private void advance() {
        long from = current.get().version();
        long reachable = from;
        while (announced.containsKey(reachable + 1) && announced.get(reachable + 1).getParentVersion() == reachable) {
            reachable++;
        }
        for (ModelUpdate beyond : announced.tailMap(reachable, false).values()) {
            if (refused.add(beyond.getVersion())) {
                refuse("lineage", "version " + beyond.getVersion() + " (parent " + beyond.getParentVersion() + ") does not follow on from "
                        + reachable + ": a version is missing or names the wrong parent");
            }
        }
        for (long v = reachable; v > from; v--) {
            ModelUpdate update = announced.get(v);
            if (refused.contains(v)) {
                continue;
            }
            try {
                ServedModel next = served(v, update, load(update));
                ServedModel previous = current.getAndSet(next);
                previous.release();
                swaps.incrementAndGet();
                LOG.info("serving {}@{} (sha256 {}), was @{}", options.modelId(), v, update.getSha256(), previous.version());
                return;
            } catch (IOException | RuntimeException e) {
                refused.add(v);
                refuse("checkpoint", "version " + v + " at " + update.getUri() + ": " + e.getMessage());
            }
        }
    }

    /** Fetches and verifies the checkpoint into a scratch directory and builds the model it describes. */
    private LlamaForCausalLM load(ModelUpdate update) throws IOException {
        Path local = Files.createTempDirectory("kaizen-serve-");
        try {
            store.fetch(new CheckpointStore.Stored(update.getUri(), update.getSha256(), update.getFiles()), local);
            if (update.getFormat() == CheckpointFormat.FULL) {
                return LlamaForCausalLM.load(local, options.device());
            }
            // Merged once here, so answers run at the base model's speed with no adapter branch.
            try (LoraAdapter adapter = LoraAdapter.load(base, local)) {
                return LlamaForCausalLM.fromTensors(base.config(), adapter.mergedTensors(), options.device());
            }
        } finally {
            FileUtils.deleteQuietly(local.toFile());
        }
    }

    private ServedModel served(long version, ModelUpdate update, LlamaForCausalLM model) {
        return new ServedModel(version, update, model, new Generator(model, tokenizer));
    }

    private void refuse(String reason, String detail) {
        refusals.computeIfAbsent(reason, r -> new AtomicLong()).incrementAndGet();
        LOG.warn("refused ({}): {}; {}@{} keeps serving", reason, detail, options.modelId(), current.get().version());
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
        ServedModel last = current.getAndSet(null);
        if (last != null) {
            last.release();
        }
        base.close();
        tokenizer.close();
    }
}
