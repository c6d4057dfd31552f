package dev.kaizen.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;

import org.apache.commons.io.FileUtils;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import dev.kaizen.embeddedkafka.EmbeddedKafka;
import dev.kaizen.jobs.continual.ContinualKtoJob;
import dev.kaizen.jobs.continual.JobConfig;
import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.WireCodec;

@Command(name = "pipeline", mixinStandardHelpOptions = true,
        description = "Push N synthetic feedback events (and their answers) through the continual-kto job up to the "
                + "KTO accumulator, training off: in-process Kafka, Avro decoding, RocksDB and every keyed stage on. "
                + "Prints <figure> events/s.")
final class PipelineBench implements Callable<Integer> {

    /** Votes per answer: several users rate each answer. */
    private static final int VOTES_PER_ANSWER = 4;

    @Spec
    CommandSpec spec;

    @Option(names = "--events", defaultValue = "1000000", paramLabel = "N", description = "Feedback events (default: ${DEFAULT-VALUE}).")
    int events;

    @Option(names = "--parallelism", defaultValue = "2", paramLabel = "P", description = "Default: ${DEFAULT-VALUE}.")
    int parallelism;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Path work = Files.createTempDirectory("kaizen-bench-pipeline-");
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            kafka.createTopics(parallelism, "chat-feedback", "chat-responses", "chat-feedback-dlq", "chat-feedback-late");
            long produceStart = System.nanoTime();
            produce(kafka);
            out.printf("wrote %d events and %d answers to Kafka in %.1f s%n", events, events / VOTES_PER_ANSWER,
                    (System.nanoTime() - produceStart) / 1e9);

            // The job's own Flink settings (RocksDB, incremental checkpoints), checkpointing into a directory removed afterwards.
            JobConfig config = JobConfig.load(null, List.of("kafka.bootstrap-servers=" + kafka.bootstrapServers(),
                    "kafka.group-id=bench-" + UUID.randomUUID(), "event-time.idleness=1s", "settle.lateness=10s",
                    "settle.response-wait=1min", "settle.retention=5min", "user-cap-per-hour=" + Integer.MAX_VALUE, "batches.size=64",
                    "flink.execution.checkpointing.interval=10s", "flink.execution.checkpointing.dir=" + work.toUri()));
            StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism,
                    Configuration.fromMap(config.flink()));
            ContinualKtoJob.build(env, config, true).batches().sinkTo(new DiscardingSink<>()).name("discard-batches");
            long start = System.nanoTime();
            env.execute("bench-pipeline");
            double seconds = (System.nanoTime() - start) / 1e9;
            out.printf("%.0f events/s%n", events / seconds);
        } finally {
            FileUtils.deleteDirectory(work.toFile());
        }
        return 0;
    }

    /** One answer per {@link #VOTES_PER_ANSWER} votes, each vote by its own user, over the last hour. */
    private void produce(EmbeddedKafka kafka) {
        WireCodec<FeedbackEvent> votes = WireCodec.feedbackEvents(Clock.systemUTC());
        WireCodec<ResponseLogged> answers = WireCodec.responses(Clock.systemUTC());
        Instant base = Instant.now().truncatedTo(ChronoUnit.HOURS).minus(Duration.ofHours(1));
        Map<String, Object> props = Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
                ProducerConfig.LINGER_MS_CONFIG, 20, ProducerConfig.BATCH_SIZE_CONFIG, 1 << 18);
        try (var producer = new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int a = 0; a < events / VOTES_PER_ANSWER; a++) {
                Instant at = base.plusMillis(a);
                producer.send(new ProducerRecord<>("chat-responses", answers.encode(ResponseLogged.newBuilder()
                        .setResponseId("r" + a).setModelId("tiny").setModelVersion(0)
                        .setPrompt(List.of(new ChatMessage("user", "What is the capital of France?")))
                        .setCompletion("Paris.").setCreatedAt(at).build())));
                for (int v = 0; v < VOTES_PER_ANSWER; v++) {
                    producer.send(new ProducerRecord<>("chat-feedback", votes.encode(FeedbackEvent.newBuilder()
                            .setEventId("e" + a + "-" + v).setResponseId("r" + a).setUserId("u" + v).setModelId("tiny")
                            .setVote(v % 2 == 0 ? Vote.UP : Vote.DOWN).setEventTime(at.plusMillis(v))
                            .setPrompt(null).setCompletion(null).setAttributes(null).build())));
                }
            }
        }
    }
}
