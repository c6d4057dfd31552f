package dev.kaizen.schemas.wire;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;

import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.FeedbackEvent;

/** Every kind of bad input yields a typed rejection with a readable reason, never an exception. */
class BadInputTest {

    private static final Clock CLOCK = WireCodecTest.CLOCK;
    private static final WireCodec<FeedbackEvent> FEEDBACK = WireCodec.feedbackEvents(CLOCK);

    record Case(String name, Function<byte[], Decoded<?>> codec, byte[] bytes, String code) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        byte[] good = FEEDBACK.encode(Samples.feedbackWithText().build());
        String longId = "r".repeat(FieldRules.MAX_ID_LENGTH + 1);
        return Stream.of(
                feedback("no bytes at all", new byte[0], "empty"),
                feedback("null instead of bytes", null, "empty"),
                feedback("one byte", new byte[] {(byte) 0xC3}, "bad-header"),
                feedback("wrong marker", replace(good, 0, (byte) 0x00, (byte) 0x00), "bad-header"),
                feedback("JSON instead of Avro", "{\"event_id\":\"e1\",\"vote\":\"UP\"}".getBytes(StandardCharsets.UTF_8), "bad-header"),
                feedback("marker but a short fingerprint", new byte[] {(byte) 0xC3, 0x01, 1, 2, 3}, "bad-header"),
                feedback("unknown fingerprint", withFingerprint(good, 0x1234_5678_9ABC_DEF0L), "unknown-schema"),
                feedback("another record's schema", WireCodec.responses(CLOCK).encode(Samples.response().build()), "unknown-schema"),
                feedback("header without a body", Arrays.copyOf(good, 10), "truncated"),
                feedback("body cut short", Arrays.copyOf(good, good.length - 5), "truncated"),
                feedback("garbage after the record", concat(good, new byte[] {1, 2, 3}), "trailing-bytes"),
                feedback("a varint that never ends", frame(e -> e.writeFixed(filled(12, (byte) 0xFF))), "malformed"),
                feedback("negative string length", frame(e -> e.writeLong(-5)), "malformed"),
                feedback("string claiming a gigabyte", frame(e -> e.writeLong(1L << 30)), "length-over-limit"),
                feedback("prompt claiming a million messages", promptClaiming(1L << 20), "length-over-limit"),
                feedback("prompt claiming 2^40 messages", promptClaiming(1L << 40), "length-over-limit"),
                feedback("union branch that does not exist", frame(e -> {
                    ids(e, "e", "r", "u", "m");
                    e.writeEnum(1);
                    e.writeLong(Samples.NOW.toEpochMilli());
                    e.writeIndex(7);
                }), "malformed"),
                feedback("vote index past the symbols", frame(e -> {
                    ids(e, "e", "r", "u", "m");
                    e.writeEnum(5);
                    e.writeLong(Samples.NOW.toEpochMilli());
                    nulls(e, 3);
                }), "unknown-enum-symbol"),
                new Case("vote symbol this reader lacks", BadInputTest::decodeWithMehHistory, mehVote(), "unknown-enum-symbol"),
                feedback("empty event_id", encode(Samples.feedback().setEventId("")), "missing-field"),
                feedback("blank user_id", encode(Samples.feedback().setUserId("   ")), "missing-field"),
                feedback("over-long response_id", encode(Samples.feedback().setResponseId(longId)), "field-too-long"),
                feedback("newline inside an id", encode(Samples.feedback().setUserId("user\n1")), "invalid-characters"),
                feedback("invalid UTF-8 in an id", frame(e -> {
                    e.writeBytes(new byte[] {'e', (byte) 0xC3, (byte) 0x28});
                    ids(e, "r", "u", "m");
                    e.writeEnum(0);
                    e.writeLong(Samples.NOW.toEpochMilli());
                    nulls(e, 3);
                }), "invalid-characters"),
                feedback("vote from next month", encode(Samples.feedback().setEventTime(Samples.NOW.plus(Duration.ofDays(30)))), "time-out-of-range"),
                feedback("vote from a clock ten minutes fast", encode(Samples.feedback().setEventTime(Samples.NOW.plus(Duration.ofMinutes(10)))), "time-out-of-range"),
                feedback("vote from 1999", encode(Samples.feedback().setEventTime(FieldRules.EARLIEST.minusSeconds(1))), "time-out-of-range"),
                feedback("completion without its prompt", encode(Samples.feedback().setCompletion("hi")), "invalid-value"),
                feedback("prompt with an unknown role", encode(Samples.feedbackWithText()
                        .setPrompt(List.of(new ChatMessage("robot", "beep")))), "invalid-value"),
                feedback("message over a mebibyte", concat(good, new byte[WireCodec.MAX_MESSAGE_BYTES]), "too-large"),
                // At the size limit exactly a message is read, and what is wrong with it said.
                feedback("a mebibyte exactly, mostly padding", concat(good, new byte[WireCodec.MAX_MESSAGE_BYTES - good.length]), "trailing-bytes"),
                new Case("response with negative version", WireCodec.responses(CLOCK)::decode,
                        WireCodec.responses(CLOCK).encode(Samples.response().setModelVersion(-1).build()), "invalid-value"),
                new Case("response with no prompt", WireCodec.responses(CLOCK)::decode,
                        WireCodec.responses(CLOCK).encode(Samples.response().setPrompt(List.of()).build()), "invalid-value"),
                new Case("update whose sha256 is not hex", WireCodec.modelUpdates(CLOCK)::decode,
                        WireCodec.modelUpdates(CLOCK).encode(Samples.update().setSha256("not-a-digest").build()), "invalid-value"),
                new Case("update whose parent is not older", WireCodec.modelUpdates(CLOCK)::decode,
                        WireCodec.modelUpdates(CLOCK).encode(Samples.update().setParentVersion(4).build()), "invalid-value"),
                new Case("update at version 0", WireCodec.modelUpdates(CLOCK)::decode,
                        WireCodec.modelUpdates(CLOCK).encode(Samples.update().setVersion(0).setParentVersion(0).build()), "invalid-value"),
                new Case("release decision against a newer promoted release", WireCodec.modelReleases(CLOCK)::decode,
                        WireCodec.modelReleases(CLOCK).encode(Samples.release().setPromotedVersion(4).build()), "invalid-value"),
                new Case("release decision with more thumbs up than votes", WireCodec.modelReleases(CLOCK)::decode,
                        WireCodec.modelReleases(CLOCK).encode(Samples.release().setCandidateUp(213).build()), "invalid-value"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void isRejectedWithAReadableReason(Case c) {
        Decoded<?> decoded = c.codec().apply(c.bytes());
        assertThat(decoded).isInstanceOf(Decoded.Invalid.class);
        Rejection rejection = ((Decoded.Invalid<?>) decoded).rejection();
        assertThat(rejection.code()).as(rejection.describe()).isEqualTo(c.code());
        assertThat(rejection.message()).isNotBlank().doesNotContain("null");
        // Serving's 400 reply names the field at fault, and none when the bytes as a whole are.
        if (java.util.Set.of("missing-field", "field-too-long", "invalid-characters", "time-out-of-range", "invalid-value").contains(c.code())) {
            assertThat(rejection.field()).isNotBlank();
            assertThat(rejection.message()).startsWith(rejection.field());
        } else {
            assertThat(rejection.field()).isNull();
        }
    }

    @Test
    void coversAtLeastTwentyKindsOfBadInput() {
        assertThat(cases().count()).isGreaterThanOrEqualTo(20);
    }

    /** A malformed body is described in Avro's own words, after the name of what it raised. */
    @Test
    void aMalformedBodyIsDescribedInAvrosWords() {
        Decoded<?> decoded = FEEDBACK.decode(frame(e -> e.writeFixed(filled(12, (byte) 0xFF))));
        assertThat(((Decoded.Invalid<?>) decoded).rejection().message())
                .isEqualTo("the body is not a valid Avro record: InvalidNumberEncodingException: Invalid long encoding");
    }

    /** How far ahead a client's clock may run is the reader's to say: within it a time is taken, beyond it refused. */
    @Test
    void theAllowedClockSkewIsTheReadersSetting() {
        byte[] fast = encode(Samples.feedback().setEventTime(Samples.NOW.plus(Duration.ofMinutes(10))));
        assertThat(FEEDBACK.withMaxFutureSkew(Duration.ofMinutes(15)).decode(fast)).isInstanceOf(Decoded.Valid.class);
        assertThat(FEEDBACK.decode(encode(Samples.feedback().setEventTime(Samples.NOW.plus(Duration.ofMinutes(4))))))
                .isInstanceOf(Decoded.Valid.class);
        assertThat(FEEDBACK.withMaxFutureSkew(Duration.ZERO).decode(fast)).isInstanceOfSatisfying(Decoded.Invalid.class,
                invalid -> assertThat(invalid.rejection().message()).contains("event_time"));
    }

    /** Random damage to a valid message never escapes as an exception. */
    @Test
    void randomDamageNeverThrows() {
        byte[] good = FEEDBACK.encode(Samples.feedbackWithText().build());
        Random random = new Random(42);
        int rejected = 0;
        for (int i = 0; i < 5_000; i++) {
            byte[] bad = Arrays.copyOf(good, 1 + random.nextInt(good.length + 8));
            for (int flips = 1 + random.nextInt(4); flips > 0; flips--) {
                // Mostly damage the body, past the header, so the record decoder sees the garbage.
                int at = bad.length > 10 ? 10 + random.nextInt(bad.length - 10) : random.nextInt(bad.length);
                bad[at] = (byte) random.nextInt(256);
            }
            if (FEEDBACK.decode(bad) instanceof Decoded.Invalid<?>) {
                rejected++;
            }
        }
        assertThat(rejected).isGreaterThan(4_000);
        // Thousands of failures later, the JIT's exception shortcuts must not blur the reasons.
        cases().filter(c -> c.name().startsWith("vote") || c.name().startsWith("union")).forEach(this::isRejectedWithAReadableReason);
    }

    private static Case feedback(String name, byte[] bytes, String code) {
        return new Case(name, FEEDBACK::decode, bytes, code);
    }

    private static byte[] encode(FeedbackEvent.Builder builder) {
        return FEEDBACK.encode(builder.build());
    }

    interface Body {
        void write(BinaryEncoder encoder) throws IOException;
    }

    /** A FeedbackEvent header and fingerprint followed by a hand-written body. */
    private static byte[] frame(Body body) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.write(new byte[] {(byte) 0xC3, 0x01});
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
                    .putLong(SchemaNormalization.parsingFingerprint64(FeedbackEvent.getClassSchema())).array());
            BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
            body.write(encoder);
            encoder.flush();
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] promptClaiming(long messages) {
        return frame(e -> {
            ids(e, "e", "r", "u", "m");
            e.writeEnum(0);
            e.writeLong(Samples.NOW.toEpochMilli());
            e.writeIndex(1);
            e.writeArrayStart();
            e.setItemCount(messages);
        });
    }

    private static void ids(BinaryEncoder e, String... ids) throws IOException {
        for (String id : ids) {
            e.writeString(id);
        }
    }

    private static void nulls(BinaryEncoder e, int unions) throws IOException {
        for (int i = 0; i < unions; i++) {
            e.writeIndex(0);
        }
    }

    private static Schema mehSchema() {
        Schema current = FeedbackEvent.getClassSchema();
        Schema vote = Schema.createEnum("Vote", null, "dev.kaizen.schemas", List.of("UP", "DOWN", "CLEAR", "MEH"));
        List<Schema.Field> fields = new ArrayList<>();
        current.getFields().forEach(f -> fields.add(new Schema.Field(f, f.name().equals("vote") ? vote : f.schema())));
        return Schema.createRecord(current.getName(), null, current.getNamespace(), false, fields);
    }

    /** Bytes from a writer whose Vote enum has a symbol that today's reader lacks. */
    private static byte[] mehVote() {
        return Samples.feedbackWrittenWith(mehSchema(), "MEH");
    }

    private static Decoded<?> decodeWithMehHistory(byte[] bytes) {
        return WireCodec.feedbackEvents(CLOCK, SchemaHistory.released("FeedbackEvent").with(mehSchema())).decode(bytes);
    }

    private static byte[] replace(byte[] bytes, int at, byte... with) {
        byte[] copy = bytes.clone();
        System.arraycopy(with, 0, copy, at, with.length);
        return copy;
    }

    private static byte[] withFingerprint(byte[] bytes, long fingerprint) {
        return replace(bytes, 2, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(fingerprint).array());
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] both = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        return both;
    }

    private static byte[] filled(int n, byte value) {
        byte[] bytes = new byte[n];
        Arrays.fill(bytes, value);
        return bytes;
    }
}
