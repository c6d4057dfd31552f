package dev.kaizen.schemas.wire;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;

import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.junit.jupiter.api.Test;

import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.Vote;

class WireCodecTest {

    static final Clock CLOCK = Clock.fixed(Samples.NOW, ZoneOffset.UTC);

    @Test
    void everyRecordTypeRoundTrips() {
        roundTrip(WireCodec.feedbackEvents(CLOCK), Samples.feedback().build());
        roundTrip(WireCodec.feedbackEvents(CLOCK), Samples.feedbackWithText().build());
        roundTrip(WireCodec.responses(CLOCK), Samples.response().build());
        roundTrip(WireCodec.modelUpdates(CLOCK), Samples.update().build());
        roundTrip(WireCodec.modelUpdates(CLOCK), Samples.update().setRejectionReason("kl 0.31 over budget 0.2")
                .setMetrics(java.util.Map.of("loss", Double.NaN)).build());
        roundTrip(WireCodec.deadLetters(CLOCK), Samples.deadLetter().build());
        roundTrip(WireCodec.modelReleases(CLOCK), Samples.release().build());
    }

    @Test
    void bytesAreSingleObjectEncodedWithTheSchemaFingerprint() {
        byte[] bytes = WireCodec.feedbackEvents(CLOCK).encode(Samples.feedback().build());
        assertThat(bytes[0]).isEqualTo((byte) 0xC3);
        assertThat(bytes[1]).isEqualTo((byte) 0x01);
        long fingerprint = java.nio.ByteBuffer.wrap(bytes, 2, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        assertThat(fingerprint).isEqualTo(SchemaNormalization.parsingFingerprint64(FeedbackEvent.getClassSchema()));
    }

    /**
     * A reader built after a release that added a field with a default reads bytes that a
     * writer of the released version wrote: it finds the writer's schema by fingerprint in the
     * history and fills the new field with its default.
     */
    @Test
    void aNewerReaderDecodesBytesFromAnOlderReleasedWriter() {
        byte[] written = WireCodec.feedbackEvents(CLOCK).encode(Samples.feedback().build());

        Schema next = withField(FeedbackEvent.getClassSchema(), new Schema.Field("session_id",
                Schema.create(Schema.Type.STRING), "The chat session the answer belongs to.", "no-session"));
        SchemaHistory history = SchemaHistory.released("FeedbackEvent").with(next);
        WireCodec<GenericRecord> reader = new WireCodec<>("FeedbackEvent",
                new BinaryMessageEncoder<>(GenericData.get(), next),
                new BinaryMessageDecoder<>(GenericData.get(), next, history.store()),
                (r, latest) -> java.util.Optional.empty(), WireCodec.MAX_MESSAGE_BYTES, CLOCK, FieldRules.MAX_FUTURE_SKEW);

        GenericRecord read = valid(reader.decode(written));
        assertThat(read.get("session_id")).hasToString("no-session");
        assertThat(read.get("event_id")).hasToString("evt-1");
        assertThat(read.get("vote")).hasToString("UP");
    }

    /** The production reader of today reads what an older writer (without attributes) wrote, once it is released. */
    @Test
    void anOlderWriterWithoutAFieldDecodesToItsDefault() {
        Schema older = withoutField(FeedbackEvent.getClassSchema(), "attributes");
        byte[] bytes = Samples.feedbackWrittenWith(older, "DOWN");

        WireCodec<FeedbackEvent> withOlderReleased =
                WireCodec.feedbackEvents(CLOCK, SchemaHistory.released("FeedbackEvent").with(older));
        FeedbackEvent read = valid(withOlderReleased.decode(bytes));
        assertThat(read.getVote()).isEqualTo(Vote.DOWN);
        assertThat(read.getAttributes()).isNull();

        // Without that version in its history, the same reader refuses the bytes by name.
        Decoded<FeedbackEvent> unknown = WireCodec.feedbackEvents(CLOCK).decode(bytes);
        assertThat(unknown).isInstanceOfSatisfying(Decoded.Invalid.class,
                i -> assertThat(i.rejection()).isInstanceOf(Rejection.UnknownSchema.class));
    }

    /** The dead-letter topic takes the largest dead letter the codec writes, with room for Kafka's record overhead. */
    @Test
    void theDeadLetterTopicTakesTheLargestDeadLetter() {
        assertThat(Integer.parseInt(Topic.CHAT_FEEDBACK_DLQ.configs().get("max.message.bytes"))).isGreaterThan(WireCodec.MAX_DEAD_LETTER_BYTES);
        assertThat(Topic.MODEL_UPDATES.configs()).containsEntry("retention.ms", "-1");
    }

    private static <T> void roundTrip(WireCodec<T> codec, T value) {
        assertThat(valid(codec.decode(codec.encode(value)))).isEqualTo(value);
    }

    static <T> T valid(Decoded<T> decoded) {
        assertThat(decoded).isInstanceOf(Decoded.Valid.class);
        return ((Decoded.Valid<T>) decoded).value();
    }

    private static Schema withField(Schema base, Schema.Field extra) {
        List<Schema.Field> fields = copyFields(base);
        fields.add(extra);
        return Schema.createRecord(base.getName(), base.getDoc(), base.getNamespace(), false, fields);
    }

    private static Schema withoutField(Schema base, String name) {
        List<Schema.Field> fields = copyFields(base);
        fields.removeIf(f -> f.name().equals(name));
        return Schema.createRecord(base.getName(), base.getDoc(), base.getNamespace(), false, fields);
    }

    private static List<Schema.Field> copyFields(Schema base) {
        List<Schema.Field> fields = new ArrayList<>();
        base.getFields().forEach(f -> fields.add(new Schema.Field(f, f.schema())));
        return fields;
    }
}
