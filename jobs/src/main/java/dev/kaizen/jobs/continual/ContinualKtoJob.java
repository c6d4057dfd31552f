package dev.kaizen.jobs.continual;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.flink.api.common.eventtime.TimestampAssignerSupplier;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamUtils;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.LocalStreamEnvironment;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import dev.kaizen.operators.accumulate.AccumulateBatches;
import dev.kaizen.operators.accumulate.KtoBatch;
import dev.kaizen.operators.cap.CapPerUser;
import dev.kaizen.operators.deadletter.DeadLetters;
import dev.kaizen.operators.kafka.CodecFactory;
import dev.kaizen.operators.kafka.EventTimeAssigner;
import dev.kaizen.operators.kafka.DecodingDeserializer;
import dev.kaizen.operators.kafka.SourceRecord;
import dev.kaizen.operators.kafka.WireSerializer;
import dev.kaizen.operators.settle.SettleVotes;
import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.operators.update.UpdateModel;
import dev.kaizen.operators.validate.ValidateRecords;
import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ModelCommand;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.wire.WireCodec;

/**
 * The continual-kto job graph, read top to bottom as the loop in DESIGN.md: sources, validate,
 * settle (dedup, join, settle per response), cap per user, accumulate KTO batches per model, and
 * update the model, which also carries out the operators' commands (rollbacks) from model-commands.
 * One named, uid'd operator per stage, so savepoints survive changes; the votes shuffle three
 * times in all, since the update stage shares the accumulator's key and partitioning.
 */
public final class ContinualKtoJob {

    /** The streams the graph ends in: the accepted samples, KTO batches, and the announced versions (null without training). */
    public record Outputs(DataStream<SettledVote> samples, DataStream<KtoBatch> batches, DataStream<ModelUpdate> updates) {}

    /** The functions of the last two stages; tests hand in variants that fail at chosen points. */
    public record Stages(AccumulateBatches accumulate, UpdateModel update) {
        public static Stages of(JobConfig c, ReadableConfig flinkConfig) {
            return new Stages(new AccumulateBatches(c.batches().size(), c.batches().timeout()),
                    c.trains() ? new UpdateModel(c.training(), c.release(), c.canary().rule(), c.retention(flinkConfig), deadLetters(c)) : null);
        }
    }

    /** The job's one dead-letter builder, naming the topics it reads as configured. */
    public static DeadLetters deadLetters(JobConfig c) {
        return new DeadLetters(c.topics().feedback(), c.topics().modelCommands());
    }

    private static final int SOURCE_API_TIMEOUT_MS = 15_000;

    private ContinualKtoJob() {}

    /**
     * Runs the job where it is started: under {@code flink run} on that cluster, else on an embedded
     * MiniCluster. Arguments: {@code --config kaizen.yaml} and any number of {@code -D key=value}.
     */
    public static void main(String[] args) throws Exception {
        Path file = null;
        List<String> overrides = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (i + 1 < args.length && args[i].equals("--config")) {
                file = Path.of(args[++i]);
            } else if (i + 1 < args.length && args[i].equals("-D")) {
                overrides.add(args[++i]);
            } else {
                throw new IllegalArgumentException("usage: --config kaizen.yaml [-D key=value]...; not '" + args[i] + "'");
            }
        }
        run(JobConfig.load(file, overrides));
    }

    /**
     * Builds the unbounded job and runs it until cancelled. Under {@code flink run} the cluster's
     * configuration (its config.yaml and the {@code -D} options of {@code flink run}) wins for
     * every key it sets: the job file's {@code flink:} section fills only the keys it leaves unset,
     * so a checkpoint directory mounted for the cluster is where checkpoints go. On the embedded
     * MiniCluster nothing else is set, and the section applies whole.
     */
    public static void run(JobConfig config) throws Exception {
        // A local environment adds its own defaults (parallelism) that no cluster set.
        StreamExecutionEnvironment probe = StreamExecutionEnvironment.getExecutionEnvironment();
        boolean embedded = probe instanceof LocalStreamEnvironment;
        Configuration cluster = embedded ? new Configuration() : Configuration.fromMap(((Configuration) probe.getConfiguration()).toMap());
        Configuration unset = new Configuration();
        if (embedded) {
            // The MiniCluster's scratch files in a folder of our own, gone when the job ends (Ctrl-C included).
            Path scratch = Files.createTempDirectory("kaizen-flink-");
            EmbeddedScratch.flinkOptions(scratch).forEach(unset::setString);
            EmbeddedScratch.deleteOnExit(scratch);
        }
        config.flink().forEach((key, value) -> {
            if (!cluster.containsKey(key)) {
                unset.setString(key, value);
            }
        });
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(unset);
        Configuration effective = new Configuration(cluster);
        effective.addAll(unset);
        config.transactionTimeoutProblem(effective).ifPresent(problem -> {
            throw new IllegalArgumentException(problem + ", as the cluster's configuration and the job's file set them together");
        });
        KafkaPreflight.check(config, kafkaProperties(config));
        build(env, config, false);
        env.execute("continual-kto");
    }

    /** Builds the graph into {@code env}; {@code bounded} stops the sources at the offsets current at start (tests, replays). */
    public static Outputs build(StreamExecutionEnvironment env, JobConfig c, boolean bounded) {
        return build(env, c, bounded, Stages.of(c, env.getConfiguration()));
    }

    public static Outputs build(StreamExecutionEnvironment env, JobConfig c, boolean bounded, Stages stages) {
        Inputs in = inputs(env, c, bounded);
        SingleOutputStreamOperator<FeedbackEvent> votes = in.votes();
        SingleOutputStreamOperator<ResponseLogged> responses = in.responses();
        DeadLetters deadLetters = deadLetters(c);
        SingleOutputStreamOperator<SettledVote> settled = votes.keyBy(FeedbackEvent::getResponseId)
                .connect(responses.keyBy(ResponseLogged::getResponseId))
                .process(new SettleVotes(c.settle(), deadLetters)).name("settle-votes").uid("settle-votes");
        SingleOutputStreamOperator<SettledVote> capped = settled.keyBy(CapPerUser::key)
                .process(new CapPerUser(c.userCapPerHour(), c.settle().horizon(), deadLetters)).name("cap-per-user").uid("cap-per-user");
        SingleOutputStreamOperator<KtoBatch> batches = capped.keyBy(SettledVote::modelId)
                .process(stages.accumulate()).name("accumulate-batches").uid("accumulate-batches");
        SingleOutputStreamOperator<ModelUpdate> updates = null;
        DataStream<DeadLetter> refusedCommands = null;
        if (c.trains()) {
            // Operators' commands carry no event time: the update stage keeps processing-time timers only.
            SingleOutputStreamOperator<ModelCommand> commands = env
                    .fromSource(source(c, c.topics().modelCommands(), bounded, new DecodingDeserializer<>(ModelCommand.class, WireCodec::modelCommands)),
                            WatermarkStrategy.noWatermarks(), c.topics().modelCommands())
                    .uid("source-model-commands")
                    .process(new ValidateRecords<>(ModelCommand.class, WireCodec::modelCommands)).name("validate-commands").uid("validate-commands");
            // Batches are already partitioned by model: they reach the update stage without a shuffle.
            updates = DataStreamUtils.reinterpretAsKeyedStream(batches, KtoBatch::modelId)
                    .connect(commands.keyBy(ModelCommand::getModelId))
                    .process(stages.update()).name("update-model").uid("update-model");
            refusedCommands = commands.getSideOutput(DeadLetters.TAG).union(updates.getSideOutput(DeadLetters.TAG));
            updates.sinkTo(sink(c, new WireSerializer<>(c.topics().modelUpdates(), WireCodec::modelUpdates, ModelUpdate::getModelId)))
                    .name("model-updates").uid("sink-model-updates");
            updates.getSideOutput(UpdateModel.REJECTIONS)
                    .sinkTo(sink(c, new WireSerializer<>(c.topics().modelRejections(), WireCodec::modelUpdates, ModelUpdate::getModelId)))
                    .name("model-rejections").uid("sink-model-rejections");
            updates.getSideOutput(UpdateModel.DECISIONS)
                    .sinkTo(sink(c, new WireSerializer<>(c.topics().modelReleases(), WireCodec::modelReleases, ModelRelease::getModelId)))
                    .name("model-releases").uid("sink-model-releases");
        }

        DataStream<DeadLetter> dead = votes.getSideOutput(DeadLetters.TAG)
                .union(responses.getSideOutput(DeadLetters.TAG), settled.getSideOutput(DeadLetters.TAG),
                        capped.getSideOutput(DeadLetters.TAG));
        (refusedCommands == null ? dead : dead.union(refusedCommands))
                .sinkTo(sink(c, new WireSerializer<>(c.topics().deadLetters(), WireCodec::deadLetters, DeadLetter::getReason)))
                .name("dead-letters").uid("sink-dead-letters");
        settled.getSideOutput(SettleVotes.LATE)
                .sinkTo(sink(c, new WireSerializer<>(c.topics().late(), WireCodec::feedbackEvents, FeedbackEvent::getResponseId)))
                .name("late-votes").uid("sink-late-votes");
        return new Outputs(capped, batches, updates);
    }

    /** The validated votes and answers, from their sources to the first shuffle; their side outputs hold the dead letters. */
    public record Inputs(SingleOutputStreamOperator<FeedbackEvent> votes, SingleOutputStreamOperator<ResponseLogged> responses) {}

    /** The job's two sources and their validation, as every graph over chat-feedback and chat-responses starts. */
    public static Inputs inputs(StreamExecutionEnvironment env, JobConfig c, boolean bounded) {
        // Watermarks are generated in the sources, per Kafka partition, from the records' own times;
        // times too far ahead of the job's clock are refused there and in validation alike.
        Duration skew = c.eventTime().maxFutureSkew();
        CodecFactory<FeedbackEvent> feedback = clock -> WireCodec.feedbackEvents(clock).withMaxFutureSkew(skew);
        CodecFactory<ResponseLogged> answers = clock -> WireCodec.responses(clock).withMaxFutureSkew(skew);
        SingleOutputStreamOperator<FeedbackEvent> votes = env
                .fromSource(source(c, c.topics().feedback(), bounded, new DecodingDeserializer<>(FeedbackEvent.class, feedback)),
                        eventTime(c, EventTimeAssigner.of(FeedbackEvent::getEventTime)), c.topics().feedback())
                .uid("source-feedback")
                .process(new ValidateRecords<>(FeedbackEvent.class, feedback)).name("validate-feedback").uid("validate-feedback");
        SingleOutputStreamOperator<ResponseLogged> responses = env
                .fromSource(source(c, c.topics().responses(), bounded, new DecodingDeserializer<>(ResponseLogged.class, answers)),
                        eventTime(c, EventTimeAssigner.of(ResponseLogged::getCreatedAt)), c.topics().responses())
                .uid("source-responses")
                .process(new ValidateRecords<>(ResponseLogged.class, answers)).name("validate-responses").uid("validate-responses");
        return new Inputs(votes, responses);
    }

    private static <T> WatermarkStrategy<SourceRecord<T>> eventTime(JobConfig c, TimestampAssignerSupplier<SourceRecord<T>> assigner) {
        return WatermarkStrategy.<SourceRecord<T>>forBoundedOutOfOrderness(c.eventTime().outOfOrderness())
                .withTimestampAssigner(assigner).withIdleness(c.eventTime().idleness());
    }

    private static <T> KafkaSource<T> source(JobConfig c, String topic, boolean bounded, KafkaRecordDeserializationSchema<T> deserializer) {
        var builder = KafkaSource.<T>builder().setBootstrapServers(c.kafka().bootstrapServers()).setTopics(topic)
                .setGroupId(c.kafka().groupId()).setStartingOffsets(OffsetsInitializer.earliest())
                .setDeserializer(deserializer).setProperties(sourceProperties(c));
        if (bounded) {
            builder.setBounded(OffsetsInitializer.latest());
        }
        return builder.build();
    }

    /**
     * A source's metadata calls give up after {@value #SOURCE_API_TIMEOUT_MS} ms (Kafka's default is a
     * minute), so a broker that is not there fails the job over, and says so in its log and restart
     * count, within seconds; it retries as its restart strategy says. {@code kafka.properties} may set others.
     */
    private static Properties sourceProperties(JobConfig c) {
        Properties props = new Properties();
        props.put("default.api.timeout.ms", Integer.toString(SOURCE_API_TIMEOUT_MS));
        props.put("request.timeout.ms", Integer.toString(SOURCE_API_TIMEOUT_MS * 2 / 3));
        props.putAll(c.kafka().properties());
        return props;
    }

    private static <T> KafkaSink<T> sink(JobConfig c, WireSerializer<T> serializer) {
        Properties props = kafkaProperties(c);
        // A transactional sink's one-hour default is over the broker's 15-minute maximum: the job would restart forever.
        props.setProperty("transaction.timeout.ms", Long.toString(c.kafka().transactionTimeout().toMillis()));
        return KafkaSink.<T>builder().setBootstrapServers(c.kafka().bootstrapServers()).setRecordSerializer(serializer)
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix(c.kafka().groupId() + "-" + serializer.topic()).setKafkaProducerConfig(props).build();
    }

    private static Properties kafkaProperties(JobConfig c) {
        Properties props = new Properties();
        props.putAll(c.kafka().properties());
        return props;
    }
}
