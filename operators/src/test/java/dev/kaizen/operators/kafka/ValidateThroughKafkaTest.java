package dev.kaizen.operators.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.kaizen.operators.deadletter.DeadLetters;
import dev.kaizen.operators.validate.ValidateRecords;
import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.testkit.EmbeddedKafkaExtension;

/**
 * The pinned versions working together: a real KRaft broker, a Flink MiniCluster with
 * checkpoints, the Kafka source and exactly-once sinks, and the validate stage between them.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ValidateThroughKafkaTest {

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).setConfiguration(new Configuration()).build());

    @Test
    void validEventsAndDeadLettersArriveExactlyOnce() throws Exception {
        String in = "chat-feedback";
        String valid = "valid-feedback";
        String dlq = "chat-feedback-dlq";
        KAFKA.kafka().createTopics(2, in, valid, dlq);
        WireCodec<FeedbackEvent> codec = WireCodec.feedbackEvents(Clock.systemUTC());
        List<byte[]> sent = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            sent.add(codec.encode(FeedbackEvent.newBuilder().setEventId("e-" + i).setResponseId("r-" + i).setUserId("u")
                    .setModelId("tiny").setVote(Vote.UP).setEventTime(Instant.now().minusSeconds(5))
                    .setPrompt(null).setCompletion(null).setAttributes(null).build()));
        }
        sent.add(new byte[] {9, 9, 9});
        sent.add("{\"json\": true}".getBytes());
        KAFKA.kafka().send(in, sent);

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.enableCheckpointing(500);
        env.setParallelism(2);
        KafkaSource<SourceRecord<FeedbackEvent>> source = KafkaSource.<SourceRecord<FeedbackEvent>>builder()
                .setBootstrapServers(KAFKA.kafka().bootstrapServers()).setTopics(in).setGroupId("validate-test")
                .setStartingOffsets(OffsetsInitializer.earliest()).setBounded(OffsetsInitializer.latest())
                .setDeserializer(new DecodingDeserializer<>(FeedbackEvent.class, WireCodec::feedbackEvents)).build();
        SingleOutputStreamOperator<FeedbackEvent> events = env.fromSource(source, WatermarkStrategy.noWatermarks(), "chat-feedback")
                .process(new ValidateRecords<>(FeedbackEvent.class, WireCodec::feedbackEvents)).name("validate").uid("validate");
        events.sinkTo(sink(valid, new WireSerializer<>(valid, WireCodec::feedbackEvents, FeedbackEvent::getResponseId)));
        events.getSideOutput(DeadLetters.TAG)
                .sinkTo(sink(dlq, new WireSerializer<>(dlq, WireCodec::deadLetters, DeadLetter::getSourceTopic)));
        env.execute("validate-through-kafka");

        List<FeedbackEvent> got = readCommitted(valid, WireCodec.feedbackEvents(Clock.systemUTC()), 20);
        List<DeadLetter> dead = readCommitted(dlq, WireCodec.deadLetters(Clock.systemUTC()), 2);
        assertThat(got).extracting(FeedbackEvent::getEventId).hasSize(20).doesNotHaveDuplicates();
        assertThat(dead).extracting(DeadLetter::getReason).containsExactlyInAnyOrder("bad-header", "bad-header");
        assertThat(dead).allSatisfy(d -> assertThat(d.getSourceTopic()).isEqualTo(in));
    }

    private static <T> KafkaSink<T> sink(String topic, WireSerializer<T> serializer) {
        Properties props = new Properties();
        // The sink's one-hour default exceeds the broker's 15-minute transaction maximum.
        props.setProperty("transaction.timeout.ms", "60000");
        return KafkaSink.<T>builder().setBootstrapServers(KAFKA.kafka().bootstrapServers()).setRecordSerializer(serializer)
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE).setTransactionalIdPrefix("kaizen-test-" + topic)
                .setKafkaProducerConfig(props).build();
    }

    private static <T> List<T> readCommitted(String topic, WireCodec<T> codec, int expected) {
        return KAFKA.kafka().readCommitted(topic, expected, Duration.ofSeconds(3), Duration.ofSeconds(30)).stream()
                .map(bytes -> ((Decoded.Valid<T>) codec.decode(bytes)).value()).toList();
    }
}
