package dev.kaizen.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.Callable;

import org.apache.commons.io.FileUtils;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.accumulators.LongMaximum;
import org.apache.flink.api.common.accumulators.LongMinimum;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;
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
import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.WireCodec;

@Command(name = "pipeline", mixinStandardHelpOptions = true,
        description = "Push N synthetic feedback events (and their answers) through the continual-kto job up to the "
                + "KTO accumulator, training off (in-process Kafka, Avro decoding, RocksDB and every keyed stage on), and "
                + "then through a naive pipeline doing the same work with one keyed operator per concern, on the same events "
                + "and settings; at --parallelism and at 1. Prints for each events/s, CPU seconds per million events and the "
                + "state of the final checkpoint per million answers, and last ratio <kaizen/baseline> (events/s at --parallelism).")
final class PipelineBench implements Callable<Integer> {

    /** Votes per answer: several users rate each answer. */
    private static final int VOTES_PER_ANSWER = 4;

    /** The warm-up's topics: their names with this prefix, holding 1/{@value #WARM_UP_SHARE} of the events. */
    private static final String WARM_UP = "warm-up-";
    private static final int WARM_UP_SHARE = 4;

    @Spec
    CommandSpec spec;

    @Option(names = "--events", defaultValue = "1000000", paramLabel = "N", description = "Feedback events (default: ${DEFAULT-VALUE}).")
    int events;

    @Option(names = "--parallelism", defaultValue = "2", paramLabel = "P", description = "Default: ${DEFAULT-VALUE}.")
    int parallelism;

    /** What one pipeline did with the events: how fast, at what CPU cost, with how much state, and which samples it emitted. */
    record Run(long samples, long digest, double seconds, double cpuSeconds, long stateBytes) {
        double eventsPerSecond(int events) {
            return events / seconds;
        }
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Path work = Files.createTempDirectory("kaizen-bench-pipeline-");
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            int warmUp = Math.max(events / WARM_UP_SHARE, VOTES_PER_ANSWER);
            kafka.createTopics(parallelism, WARM_UP + "chat-feedback", WARM_UP + "chat-responses", "chat-feedback", "chat-responses",
                    "chat-feedback-dlq", "chat-feedback-late");
            long produceStart = System.nanoTime();
            produce(kafka, WARM_UP, warmUp);
            produce(kafka, "", events);
            out.printf("wrote %d events and %d answers to Kafka, and %d events for the warm-up, in %.1f s%n", events,
                    events / VOTES_PER_ANSWER, warmUp, (System.nanoTime() - produceStart) / 1e9);
            // The JIT compiles the code both share during whichever runs first: both run once before any is measured.
            for (String name : new String[] {"kaizen", "baseline"}) {
                run(kafka, work, name, parallelism, WARM_UP);
            }
            out.println("warmed up");
            out.flush();
            double ratio = Double.NaN;
            for (int p : parallelism == 1 ? new int[] {1} : new int[] {parallelism, 1}) {
                Run kaizen = report(run(kafka, work, "kaizen", p, ""), "kaizen", p, out);
                Run naive = report(run(kafka, work, "baseline", p, ""), "baseline", p, out);
                if (kaizen.samples() != naive.samples() || kaizen.digest() != naive.digest()) {
                    out.printf("the two pipelines emitted different samples: %d and %d%n", kaizen.samples(), naive.samples());
                    return 1;
                }
                if (p == parallelism) {
                    ratio = kaizen.eventsPerSecond(events) / naive.eventsPerSecond(events);
                }
            }
            out.printf("ratio %.2f%n", ratio);
        } finally {
            FileUtils.deleteDirectory(work.toFile());
        }
        return 0;
    }

    private Run run(EmbeddedKafka kafka, Path work, String name, int p, String topicPrefix) throws Exception {
        Path checkpoints = work.resolve(topicPrefix + name + "-p" + p);
        // The job's own Flink settings (RocksDB, incremental checkpoints); the final checkpoint is kept, to weigh the state.
        JobConfig config = JobConfig.load(null, List.of("kafka.bootstrap-servers=" + kafka.bootstrapServers(),
                "kafka.group-id=bench-" + UUID.randomUUID(), "event-time.idleness=1s", "settle.lateness=10s",
                "settle.response-wait=1min", "settle.retention=5min", "user-cap-per-hour=" + Integer.MAX_VALUE, "batches.size=64",
                "topics.feedback=" + topicPrefix + "chat-feedback", "topics.responses=" + topicPrefix + "chat-responses",
                "flink.execution.checkpointing.interval=10s", "flink.execution.checkpointing.dir=" + checkpoints.toUri(),
                "flink.execution.checkpointing.externalized-checkpoint-retention=RETAIN_ON_CANCELLATION"));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(p, Configuration.fromMap(config.flink()));
        ContinualKtoJob.Outputs outputs = name.equals("kaizen") ? ContinualKtoJob.build(env, config, true) : NaivePipeline.build(env, config, true);
        // The samples the accumulator takes are compared: which of them a batch holds, and which wait in the last one, is order.
        outputs.samples().process(new Measure()).name("measure").sinkTo(new DiscardingSink<>()).name("discard-samples");
        outputs.batches().sinkTo(new DiscardingSink<>()).name("discard-batches");
        JobExecutionResult result = env.execute("bench-pipeline-" + name);
        // From the first sample to the last: the MiniCluster's start and the wait for the final checkpoint are left out.
        double seconds = (result.<Long>getAccumulatorResult(Measure.LAST) - result.<Long>getAccumulatorResult(Measure.FIRST)) / 1e9;
        double cpu = (result.<Long>getAccumulatorResult(Measure.LAST_CPU) - result.<Long>getAccumulatorResult(Measure.FIRST_CPU)) / 1e9;
        return new Run(result.<Long>getAccumulatorResult(Measure.SAMPLES), result.<Long>getAccumulatorResult(Measure.DIGEST),
                seconds, cpu, sizeOf(checkpoints));
    }

    private Run report(Run run, String name, int p, PrintWriter out) {
        // Bytes per answer are megabytes per million answers.
        out.printf("%-8s parallelism %d: %,.0f events/s, %.1f CPU s per million events, %.1f MB of state per million answers (%d samples)%n",
                name, p, run.eventsPerSecond(events), run.cpuSeconds() * 1e6 / events, (double) run.stateBytes() / (events / VOTES_PER_ANSWER),
                run.samples());
        out.flush();
        return run;
    }

    /** The bytes under {@code dir}; Flink may still be deleting a subsumed checkpoint's files, which count as gone. */
    private static long sizeOf(Path dir) throws IOException {
        long[] bytes = {0};
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attributes) {
                bytes[0] += attributes.size();
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                if (e instanceof NoSuchFileException) {
                    return FileVisitResult.CONTINUE;
                }
                throw e;
            }
        });
        return bytes[0];
    }

    /**
     * Counts the samples and sums a 64-bit fingerprint of each (equal sums: the same samples, in any order), and
     * notes the clock at the first and the last, and this process's CPU time (the MiniCluster runs in it) at the
     * first and then every {@value #CPU_EVERY} samples.
     */
    static final class Measure extends ProcessFunction<SettledVote, SettledVote> {
        static final String SAMPLES = "samples";
        static final String DIGEST = "digest";
        static final String FIRST = "first-sample-nanos";
        static final String LAST = "last-sample-nanos";
        static final String FIRST_CPU = "first-sample-cpu-nanos";
        static final String LAST_CPU = "last-sample-cpu-nanos";
        static final int CPU_EVERY = 256;

        private transient LongCounter samples;
        private transient LongCounter digest;
        private transient LongMinimum first;
        private transient LongMaximum last;
        private transient LongMinimum firstCpu;
        private transient LongMaximum lastCpu;
        private transient com.sun.management.OperatingSystemMXBean os;
        private transient long seen;

        @Override
        public void open(OpenContext context) {
            os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            samples = getRuntimeContext().getLongCounter(SAMPLES);
            digest = getRuntimeContext().getLongCounter(DIGEST);
            getRuntimeContext().addAccumulator(FIRST, first = new LongMinimum());
            getRuntimeContext().addAccumulator(LAST, last = new LongMaximum());
            getRuntimeContext().addAccumulator(FIRST_CPU, firstCpu = new LongMinimum());
            getRuntimeContext().addAccumulator(LAST_CPU, lastCpu = new LongMaximum());
        }

        @Override
        public void processElement(SettledVote s, Context ctx, Collector<SettledVote> out) {
            long now = System.nanoTime();
            first.add(now);
            last.add(now);
            // The process's CPU time sums over its threads, a cost that grows with them: read every CPU_EVERY samples.
            if (seen++ % CPU_EVERY == 0) {
                long cpu = os.getProcessCpuTime();
                firstCpu.add(cpu);
                lastCpu.add(cpu);
            }
            samples.add(1);
            digest.add(fingerprint(s));
            out.collect(s);
        }

        /** A 64-bit hash of every field but the moment it settled, cheap enough that measuring costs both pipelines little. */
        static long fingerprint(SettledVote s) {
            long h = 17;
            for (Object field : new Object[] {s.eventId(), s.modelId(), s.responseId(), s.userId(), s.eventTime(), s.desirable(),
                    s.prompt(), s.completion(), s.modelVersion()}) {
                h = (h + Objects.hashCode(field)) * 0x9E3779B97F4A7C15L;
            }
            return h ^ (h >>> 29);
        }
    }

    /** One answer per {@link #VOTES_PER_ANSWER} votes, each vote by its own user, over the last hour. */
    private static void produce(EmbeddedKafka kafka, String topicPrefix, int events) {
        WireCodec<FeedbackEvent> votes = WireCodec.feedbackEvents(Clock.systemUTC());
        WireCodec<ResponseLogged> answers = WireCodec.responses(Clock.systemUTC());
        Instant base = Instant.now().truncatedTo(ChronoUnit.HOURS).minus(Duration.ofHours(1));
        Map<String, Object> props = Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
                ProducerConfig.LINGER_MS_CONFIG, 20, ProducerConfig.BATCH_SIZE_CONFIG, 1 << 18);
        try (var producer = new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int a = 0; a < events / VOTES_PER_ANSWER; a++) {
                Instant at = base.plusMillis(a);
                producer.send(new ProducerRecord<>(topicPrefix + "chat-responses", answers.encode(ResponseLogged.newBuilder()
                        .setResponseId("r" + a).setModelId("tiny").setModelVersion(0)
                        .setPrompt(List.of(new ChatMessage("user", "What is the capital of France?")))
                        .setCompletion("Paris.").setCreatedAt(at).build())));
                for (int v = 0; v < VOTES_PER_ANSWER; v++) {
                    producer.send(new ProducerRecord<>(topicPrefix + "chat-feedback", votes.encode(FeedbackEvent.newBuilder()
                            .setEventId("e" + a + "-" + v).setResponseId("r" + a).setUserId("u" + v).setModelId("tiny")
                            .setVote(v % 2 == 0 ? Vote.UP : Vote.DOWN).setEventTime(at.plusMillis(v))
                            .setPrompt(null).setCompletion(null).setAttributes(null).build())));
                }
            }
        }
    }
}
