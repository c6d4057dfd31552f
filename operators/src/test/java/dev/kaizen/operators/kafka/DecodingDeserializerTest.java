package dev.kaizen.operators.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import org.apache.flink.api.common.eventtime.TimestampAssigner;
import org.apache.flink.api.common.functions.util.ListCollector;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.typeutils.PojoTypeInfo;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.WireCodec;

/** The source decodes each record once: the watermarks and the validate stage both read what it decoded. */
class DecodingDeserializerTest {

    private static final Instant AT = Instant.now().minusSeconds(30).truncatedTo(java.time.temporal.ChronoUnit.MILLIS);
    private static final FeedbackEvent VOTE = FeedbackEvent.newBuilder().setEventId("e-1").setResponseId("r-1").setUserId("u-1")
            .setModelId("tiny").setVote(Vote.UP).setEventTime(AT).setPrompt(null).setCompletion(null).setAttributes(null).build();

    private static SourceRecord<FeedbackEvent> read(byte[] value) {
        var deserializer = new DecodingDeserializer<>(FeedbackEvent.class, WireCodec::feedbackEvents);
        deserializer.open(null);
        List<SourceRecord<FeedbackEvent>> out = new ArrayList<>();
        deserializer.deserialize(new ConsumerRecord<>("chat-feedback", 1, 7L, null, value), new ListCollector<>(out));
        assertThat(out).hasSize(1);
        return out.get(0);
    }

    @Test
    void aValidRecordIsDecodedWithItsPositionAndLeavesItsBytesBehind() {
        SourceRecord<FeedbackEvent> r = read(WireCodec.feedbackEvents(Clock.systemUTC()).encode(VOTE));
        assertThat(r.value()).isEqualTo(VOTE);
        assertThat(r.bytes()).isNull();
        assertThat(r.topic()).isEqualTo("chat-feedback");
        assertThat(r.partition()).isEqualTo(1);
        assertThat(r.offset()).isEqualTo(7L);
        TimestampAssigner<SourceRecord<FeedbackEvent>> time = EventTimeAssigner.of(FeedbackEvent::getEventTime).createTimestampAssigner(null);
        assertThat(time.extractTimestamp(r, 5L)).isEqualTo(AT.toEpochMilli());
    }

    @Test
    void aRefusedRecordKeepsItsBytesAndGetsNoTimestamp() {
        byte[] garbage = {(byte) 0xC3, 0x01, 9, 9};
        SourceRecord<FeedbackEvent> r = read(garbage);
        assertThat(r.value()).isNull();
        assertThat(r.bytes()).isEqualTo(garbage);
        assertThat(read(null).bytes()).isNull();
        TimestampAssigner<SourceRecord<FeedbackEvent>> time = EventTimeAssigner.of(FeedbackEvent::getEventTime).createTimestampAssigner(null);
        assertThat(time.extractTimestamp(r, 5L)).isEqualTo(TimestampAssigner.NO_TIMESTAMP);
    }

    @Test
    void recordsTravelAsAPojoOfKnownFieldsNotThroughKryo() throws Exception {
        TypeInformation<SourceRecord<FeedbackEvent>> type = SourceRecord.type(FeedbackEvent.class);
        assertThat(type).isInstanceOf(PojoTypeInfo.class);
        TypeSerializer<SourceRecord<FeedbackEvent>> serializer = type.createSerializer(new SerializerConfigImpl());
        for (SourceRecord<FeedbackEvent> r : List.of(read(WireCodec.feedbackEvents(Clock.systemUTC()).encode(VOTE)), read(new byte[] {1, 2}))) {
            DataOutputSerializer out = new DataOutputSerializer(64);
            serializer.serialize(r, out);
            SourceRecord<FeedbackEvent> back = serializer.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
            assertThat(back.value()).isEqualTo(r.value());
            assertThat(back.bytes()).isEqualTo(r.bytes());
            assertThat(back.offset()).isEqualTo(r.offset());
            assertThat(serializer.copy(r).value()).isEqualTo(r.value());
        }
    }
}
