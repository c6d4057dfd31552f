package dev.kaizen.operators.validate;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;

import org.apache.flink.api.common.functions.util.ListCollector;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

import dev.kaizen.operators.deadletter.DeadLetters;
import dev.kaizen.operators.kafka.CodecFactory;
import dev.kaizen.operators.kafka.DecodingDeserializer;
import dev.kaizen.operators.kafka.SourceRecord;
import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.OriginalForm;
import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.WireCodec;

class ValidateRecordsTest {

    private static final WireCodec<FeedbackEvent> CODEC = WireCodec.feedbackEvents(Clock.systemUTC());

    private static OneInputStreamOperatorTestHarness<SourceRecord<FeedbackEvent>, FeedbackEvent> harness() throws Exception {
        return ProcessFunctionTestHarnesses.forProcessFunction(new ValidateRecords<>(FeedbackEvent.class, WireCodec::feedbackEvents));
    }

    private static FeedbackEvent.Builder event() {
        return FeedbackEvent.newBuilder().setEventId("e-1").setResponseId("r-1").setUserId("u-1").setModelId("tiny")
                .setVote(Vote.UP).setEventTime(Instant.now().minusSeconds(10))
                .setPrompt(null).setCompletion(null).setAttributes(null);
    }

    private static SourceRecord<FeedbackEvent> raw(long offset, byte[] value) {
        return raw(WireCodec::feedbackEvents, offset, value);
    }

    /** The record as the job's source hands it on, decoded there. */
    private static SourceRecord<FeedbackEvent> raw(CodecFactory<FeedbackEvent> codec, long offset, byte[] value) {
        var deserializer = new DecodingDeserializer<>(FeedbackEvent.class, codec);
        deserializer.open(null);
        List<SourceRecord<FeedbackEvent>> read = new ArrayList<>();
        deserializer.deserialize(new ConsumerRecord<>("chat-feedback", 2, offset, null, value), new ListCollector<>(read));
        assertThat(read).hasSize(1);
        return read.get(0);
    }

    @Test
    void validEventsPassAndBadOnesBecomeDeadLettersWithTheirBytesAndReason() throws Exception {
        FeedbackEvent good = event().build();
        byte[] garbage = {1, 2, 3, 4, 5};
        byte[] emptyId = CODEC.encode(event().setUserId("").build());
        try (var h = harness()) {
            h.processElement(raw(10, CODEC.encode(good)), 1_000L);
            h.processElement(raw(11, garbage), 1_001L);
            h.processElement(raw(12, emptyId), 1_002L);
            h.processElement(raw(13, null), 1_003L);

            assertThat(h.extractOutputValues()).containsExactly(good);
            List<DeadLetter> dead = h.getSideOutput(DeadLetters.TAG).stream().map(StreamRecord::getValue).toList();
            assertThat(dead).extracting(DeadLetter::getReason).containsExactly("bad-header", "missing-field", "empty");
            assertThat(dead).extracting(DeadLetter::getOffset).containsExactly(11L, 12L, 13L);
            assertThat(dead).allSatisfy(d -> {
                assertThat(d.getSourceTopic()).isEqualTo("chat-feedback");
                assertThat(d.getPartition()).isEqualTo(2);
                assertThat(d.getDetail()).isNotBlank();
            });
            assertThat(dead.get(0).getOriginal().array()).isEqualTo(garbage);
            assertThat(dead.get(1).getOriginal().array()).isEqualTo(emptyId);
            assertThat(dead.get(1).getDetail()).contains("user_id");
            assertThat(dead).extracting(DeadLetter::getOriginalForm).containsOnly(OriginalForm.AS_READ);
        }
    }

    /** One client with a fast clock must not push the watermark ahead: its votes are dead-lettered beyond the allowed skew. */
    @Test
    void aVoteFromAClockFasterThanTheAllowedSkewIsDeadLettered() throws Exception {
        byte[] fast = CODEC.encode(event().setEventTime(Instant.now().plus(Duration.ofMinutes(10))).build());
        try (var h = harness()) {
            h.processElement(raw(20, fast), 1_000L);
            assertThat(h.extractOutputValues()).isEmpty();
            assertThat(h.getSideOutput(DeadLetters.TAG)).extracting(r -> r.getValue().getReason()).containsExactly("time-out-of-range");
        }
        CodecFactory<FeedbackEvent> lenient = clock -> WireCodec.feedbackEvents(clock).withMaxFutureSkew(Duration.ofMinutes(15));
        try (var h = ProcessFunctionTestHarnesses.forProcessFunction(new ValidateRecords<>(FeedbackEvent.class, lenient))) {
            h.processElement(raw(lenient, 20, fast), 1_000L);
            assertThat(h.extractOutputValues()).hasSize(1);
        }
    }

    @Test
    void aStormOfGarbageNeverStopsTheStage() throws Exception {
        Random random = new Random(1);
        try (var h = harness()) {
            for (int i = 0; i < 2_000; i++) {
                byte[] value = new byte[random.nextInt(64)];
                random.nextBytes(value);
                if (i % 3 == 0 && value.length > 2) {
                    value[0] = (byte) 0xC3;  // a valid marker with a garbage fingerprint and body
                    value[1] = 0x01;
                }
                h.processElement(raw(i, value), i);
            }
            ConcurrentLinkedQueue<StreamRecord<DeadLetter>> dead = h.getSideOutput(DeadLetters.TAG);
            assertThat(dead).hasSize(2_000);
            assertThat(h.extractOutputValues()).isEmpty();
        }
    }
}
