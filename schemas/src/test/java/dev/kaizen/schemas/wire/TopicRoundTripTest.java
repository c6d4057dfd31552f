package dev.kaizen.schemas.wire;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.kaizen.embeddedkafka.EmbeddedKafka;
import dev.kaizen.testkit.EmbeddedKafkaExtension;

/** Every record type, encoded as the job and serving will, survives a trip through a real broker. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TopicRoundTripTest {

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    private static EmbeddedKafka kafka;

    @BeforeAll
    static void createTopics() {
        kafka = KAFKA.kafka();
        kafka.createTopics(2, Arrays.stream(Topic.values()).map(Topic::topicName).toArray(String[]::new));
    }

    @Test
    void feedbackEvents() {
        var codec = WireCodec.feedbackEvents(WireCodecTest.CLOCK);
        var sent = List.of(Samples.feedback().build(), Samples.feedbackWithText().setEventId("evt-2").build());
        assertThat(roundTrip(Topic.CHAT_FEEDBACK, codec, sent)).containsExactlyInAnyOrderElementsOf(sent);
    }

    @Test
    void responses() {
        var codec = WireCodec.responses(WireCodecTest.CLOCK);
        var sent = List.of(Samples.response().build(), Samples.response().setResponseId("resp-2").setModelVersion(0).build());
        assertThat(roundTrip(Topic.CHAT_RESPONSES, codec, sent)).containsExactlyInAnyOrderElementsOf(sent);
    }

    @Test
    void modelUpdates() {
        var codec = WireCodec.modelUpdates(WireCodecTest.CLOCK);
        var sent = List.of(Samples.update().build(), Samples.update().setVersion(5).setParentVersion(4).build());
        assertThat(roundTrip(Topic.MODEL_UPDATES, codec, sent)).containsExactlyInAnyOrderElementsOf(sent);
    }

    @Test
    void modelCommands() {
        var codec = WireCodec.modelCommands(WireCodecTest.CLOCK);
        var sent = List.of(Samples.command().build(), Samples.command().setCommandId("c-2").setReason(null).build());
        assertThat(roundTrip(Topic.MODEL_COMMANDS, codec, sent)).containsExactlyInAnyOrderElementsOf(sent);
    }

    @Test
    void modelReleases() {
        var codec = WireCodec.modelReleases(WireCodecTest.CLOCK);
        var sent = List.of(Samples.release().build(), Samples.release().setVersion(5).setDecision(dev.kaizen.schemas.ReleaseDecision.PROMOTE).build());
        assertThat(roundTrip(Topic.MODEL_RELEASES, codec, sent)).containsExactlyInAnyOrderElementsOf(sent);
    }

    @Test
    void deadLetters() {
        var codec = WireCodec.deadLetters(WireCodecTest.CLOCK);
        var sent = List.of(Samples.deadLetter().build(), Samples.deadLetter().setPartition(null).setOffset(null)
                .setReason("user-cap").build());
        assertThat(roundTrip(Topic.CHAT_FEEDBACK_DLQ, codec, sent)).containsExactlyInAnyOrderElementsOf(sent);
    }

    private static <T> List<T> roundTrip(Topic topic, WireCodec<T> codec, List<T> records) {
        Map<String, Object> producerConfig = Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        try (var producer = new KafkaProducer<>(producerConfig, new StringSerializer(), new ByteArraySerializer())) {
            for (int i = 0; i < records.size(); i++) {
                producer.send(new ProducerRecord<>(topic.topicName(), "key-" + i, codec.encode(records.get(i))));
            }
            producer.flush();
        }
        Map<String, Object> consumerConfig = Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
                ConsumerConfig.GROUP_ID_CONFIG, "round-trip-" + UUID.randomUUID(),
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<T> received = new ArrayList<>();
        try (var consumer = new KafkaConsumer<>(consumerConfig, new StringDeserializer(), new ByteArrayDeserializer())) {
            consumer.subscribe(List.of(topic.topicName()));
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (received.size() < records.size() && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    received.add(WireCodecTest.valid(codec.decode(r.value())));
                }
            }
        }
        return received;
    }
}
