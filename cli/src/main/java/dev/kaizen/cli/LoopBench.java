package dev.kaizen.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;

import org.apache.commons.io.FileUtils;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.TimeUtils;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.embeddedkafka.EmbeddedKafka;
import dev.kaizen.jobs.continual.ContinualKtoJob;
import dev.kaizen.jobs.continual.JobConfig;
import dev.kaizen.operators.update.UpdateModel;
import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;

@Command(name = "loop", mixinStandardHelpOptions = true,
        description = "Runs the whole loop in one JVM (in-process Kafka, MiniCluster with RocksDB and checkpoints, the tiny "
                + "model training, the job's default release cadence), sends answers and votes live at a steady rate, and prints "
                + "the latency from a vote being sent to the committed record that accounts for it (the release that trained "
                + "on it or held it out, or a refusal): p50 and p99.")
final class LoopBench implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--votes", defaultValue = "960", paramLabel = "N",
            description = "Votes to send (default: ${DEFAULT-VALUE}, three releases at the default cadence and batch size).")
    int votes;

    @Option(names = "--rate", defaultValue = "20", paramLabel = "PER_SECOND", description = "Votes per second (default: ${DEFAULT-VALUE}).")
    int rate;

    @Option(names = "--batch-size", defaultValue = "16", paramLabel = "B", description = "KTO batch size (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--checkpoint-interval", defaultValue = "1s", paramLabel = "DURATION",
            description = "Flink checkpoint interval: a version is announced when the checkpoint holding it completes "
                    + "(default: ${DEFAULT-VALUE}).")
    String checkpointInterval;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Path work = Files.createTempDirectory("kaizen-bench-loop-");
        Path model = work.resolve("model");
        ModelPresets.TINY.write(model, 1, TwoStyleChat.corpus());
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            kafka.createTopics(2, "chat-feedback", "chat-responses", "chat-feedback-dlq", "chat-feedback-late", "model-updates",
                    "model-rejections", "model-commands", "model-releases");
            JobConfig config = JobConfig.load(null, List.of("kafka.bootstrap-servers=" + kafka.bootstrapServers(),
                    "kafka.group-id=bench-loop-" + UUID.randomUUID(), "event-time.out-of-orderness=200ms", "event-time.idleness=1s",
                    "settle.lateness=500ms", "batches.size=" + batchSize, "batches.timeout=2s", "user-cap-per-hour=1000",
                    // The bench's votes name no serving version, so no canary trial could end: each release goes to everyone.
                    "canary.enabled=false",
                    "training.base-model-dir=" + model, "training.checkpoint-root=" + work.resolve("store").toUri(),
                    "flink.execution.checkpointing.interval=" + checkpointInterval,
                    "flink.execution.checkpointing.dir=" + work.resolve("checkpoints").toUri()));
            StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(2, Configuration.fromMap(config.flink()));
            ContinualKtoJob.build(env, config, false);
            JobClient job = env.executeAsync("bench-loop");
            try {
                int perRelease = config.release().everySteps() * batchSize;
                out.printf("releases every %d steps of %d votes, or %s after the first; %.0f%% of votes held out to judge them%n",
                        config.release().everySteps(), batchSize, TimeUtils.formatWithHighestUnit(config.release().maxWait()),
                        100 * config.release().holdoutFraction());
                // Warm up (MiniCluster, model load, first checkpoint, first release) so the figures are the loop's steady state.
                long warmUp = System.nanoTime();
                measure(kafka, "warm-up", perRelease);
                out.printf("warm-up: first release %.1f s after start%n", (System.nanoTime() - warmUp) / 1e9);
                List<Long> latencies = measure(kafka, "tiny", votes);
                latencies.sort(null);
                out.printf("%d of %d votes accounted for; feedback-to-release latency p50 %.2f s, p99 %.2f s%n",
                        latencies.size(), votes, latencies.get(latencies.size() / 2) / 1e3,
                        latencies.get((int) Math.min(latencies.size() - 1, Math.ceil(latencies.size() * 0.99) - 1)) / 1e3);
            } finally {
                job.cancel().get();
            }
        } finally {
            FileUtils.deleteDirectory(work.toFile());
        }
        return 0;
    }

    /**
     * Sends answers and votes of {@code modelId} live (event time = now) at the configured rate, then
     * keeps the stream going with votes of another model so the last ones settle, while following
     * the announcements; returns the latency of each of the first {@code count} votes announced.
     */
    private List<Long> measure(EmbeddedKafka kafka, String modelId, int count) throws Exception {
        AtomicLongArray sentAt = new AtomicLongArray(count);
        AtomicBoolean stop = new AtomicBoolean();
        Thread sender = new Thread(() -> send(kafka, modelId, count, sentAt, stop), "bench-loop-sender");
        sender.start();
        try {
            return announcements(kafka, sentAt, modelId);
        } finally {
            stop.set(true);
            sender.join();
        }
    }

    private void send(EmbeddedKafka kafka, String modelId, int count, AtomicLongArray sentAt, AtomicBoolean stop) {
        WireCodec<FeedbackEvent> voteCodec = WireCodec.feedbackEvents(Clock.systemUTC());
        WireCodec<ResponseLogged> answerCodec = WireCodec.responses(Clock.systemUTC());
        List<TwoStyleChat.Fact> facts = TwoStyleChat.trainFacts();
        Map<String, Object> props = Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.LINGER_MS_CONFIG, 0);
        long start = System.nanoTime();
        try (var producer = new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int i = 0; !stop.get(); i++) {
                long wait = start + (long) (i * 1e9 / rate) - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
                String model = i < count ? modelId : modelId + "-tail";
                TwoStyleChat.Fact fact = facts.get(i % facts.size());
                TwoStyleChat.Style style = i % 2 == 0 ? TwoStyleChat.Style.A : TwoStyleChat.Style.B;
                Instant now = Instant.now();
                producer.send(new ProducerRecord<>("chat-responses", answerCodec.encode(ResponseLogged.newBuilder()
                        .setResponseId(model + "-r" + i).setModelId(model).setModelVersion(0)
                        .setPrompt(List.of(new ChatMessage("user", fact.question()))).setCompletion(fact.answer(style))
                        .setCreatedAt(now).build())));
                producer.send(new ProducerRecord<>("chat-feedback", voteCodec.encode(FeedbackEvent.newBuilder()
                        .setEventId(model + "-e" + i).setResponseId(model + "-r" + i).setUserId("u" + i % 500).setModelId(model)
                        .setVote(style == TwoStyleChat.Style.A ? Vote.UP : Vote.DOWN).setEventTime(now)
                        .setPrompt(null).setCompletion(null).setAttributes(null).build())));
                if (i < count) {
                    sentAt.set(i, System.currentTimeMillis());
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Follows model-updates and model-rejections (read_committed) until every vote is accounted for
     * or 60 s pass without a new one. Votes settle in about the order they were sent, so the k-th
     * vote is taken to be accounted for by the first record whose running count (trained and held
     * out) reaches k.
     */
    private List<Long> announcements(EmbeddedKafka kafka, AtomicLongArray sentAt, String modelId) {
        WireCodec<ModelUpdate> codec = WireCodec.modelUpdates(Clock.systemUTC());
        Map<String, Object> config = Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
                ConsumerConfig.GROUP_ID_CONFIG, "bench-" + UUID.randomUUID(), ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed", ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
        List<Long> latencies = new ArrayList<>();
        long counted = 0;
        try (var consumer = new KafkaConsumer<>(config, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.subscribe(List.of("model-updates", "model-rejections"));
            long quietSince = System.currentTimeMillis();
            while (counted < sentAt.length() && System.currentTimeMillis() - quietSince < 60_000) {
                for (var record : consumer.poll(Duration.ofMillis(100))) {
                    long now = System.currentTimeMillis();
                    ModelUpdate update = ((Decoded.Valid<ModelUpdate>) codec.decode(record.value())).value();
                    if (!update.getModelId().equals(modelId)) {
                        continue;
                    }
                    long count = update.getFeedbackCount() + Math.round(update.getMetrics().getOrDefault(UpdateModel.HELD_OUT_SAMPLES, 0.0));
                    for (long k = counted; k < Math.min(sentAt.length(), counted + count); k++) {
                        latencies.add(now - sentAt.get((int) k));
                    }
                    counted += count;
                    quietSince = now;
                }
            }
        }
        return latencies;
    }
}
