package dev.kaizen.schemas.wire;

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Optional;

import org.apache.avro.AvroTypeException;
import org.apache.avro.Schema;
import org.apache.avro.SystemLimitException;
import org.apache.avro.message.BadHeaderException;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.message.MissingSchemaException;
import org.apache.avro.specific.SpecificData;

import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ModelCommand;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ResponseLogged;

/**
 * Bytes on a topic ⇄ records: Avro single-object encoding (marker, schema fingerprint, binary
 * body). Decoding resolves any released writer schema by its fingerprint, then applies the
 * record's {@link FieldRules}; it never throws on bad bytes but returns a typed {@link Rejection}.
 * Not thread-safe: one codec per thread or operator instance.
 */
public final class WireCodec<T> {

    /** Kafka's default largest message; nothing legitimate of ours comes close. */
    public static final int MAX_MESSAGE_BYTES = 1 << 20;
    /** A dead letter carries a whole rejected message plus its own fields. */
    public static final int MAX_DEAD_LETTER_BYTES = 2 * MAX_MESSAGE_BYTES;
    private static final int MAX_COLLECTION_ITEMS = 1 << 16;

    static {
        limitAvroAllocations();
    }

    /** Checks a decoded record against its rules, given the latest time a record may carry. */
    @FunctionalInterface
    public interface Rules<T> {
        Optional<Rejection> check(T value, Instant latest);
    }

    private final String record;
    private final BinaryMessageEncoder<T> encoder;
    private final BinaryMessageDecoder<T> decoder;
    private final Rules<T> rules;
    private final int maxBytes;
    private final Clock clock;
    private final Duration maxFutureSkew;

    public WireCodec(String record, BinaryMessageEncoder<T> encoder, BinaryMessageDecoder<T> decoder,
                     Rules<T> rules, int maxBytes, Clock clock, Duration maxFutureSkew) {
        this.record = record;
        this.encoder = encoder;
        this.decoder = decoder;
        this.rules = rules;
        this.maxBytes = maxBytes;
        this.clock = clock;
        this.maxFutureSkew = maxFutureSkew;
    }

    /** This codec, refusing times further than {@code skew} ahead of its clock ({@link FieldRules#MAX_FUTURE_SKEW} by default). */
    public WireCodec<T> withMaxFutureSkew(Duration skew) {
        if (skew.isNegative()) {
            throw new IllegalArgumentException("the allowed clock skew cannot be negative: " + skew);
        }
        return new WireCodec<>(record, encoder, decoder, rules, maxBytes, clock, skew);
    }

    public static WireCodec<FeedbackEvent> feedbackEvents(Clock clock) {
        return feedbackEvents(clock, SchemaHistory.released("FeedbackEvent"));
    }

    /** A FeedbackEvent codec that also reads the writers in {@code history} (for tests of future releases). */
    public static WireCodec<FeedbackEvent> feedbackEvents(Clock clock, SchemaHistory history) {
        return specific(FeedbackEvent.getEncoder(), FeedbackEvent.getClassSchema(), history,
                FieldRules::feedback, MAX_MESSAGE_BYTES, clock);
    }

    public static WireCodec<ResponseLogged> responses(Clock clock) {
        return specific(ResponseLogged.getEncoder(), ResponseLogged.getClassSchema(),
                SchemaHistory.released("ResponseLogged"), FieldRules::response, MAX_MESSAGE_BYTES, clock);
    }

    public static WireCodec<ModelUpdate> modelUpdates(Clock clock) {
        return specific(ModelUpdate.getEncoder(), ModelUpdate.getClassSchema(),
                SchemaHistory.released("ModelUpdate"), FieldRules::update, MAX_MESSAGE_BYTES, clock);
    }

    public static WireCodec<ModelCommand> modelCommands(Clock clock) {
        return specific(ModelCommand.getEncoder(), ModelCommand.getClassSchema(),
                SchemaHistory.released("ModelCommand"), FieldRules::command, MAX_MESSAGE_BYTES, clock);
    }

    public static WireCodec<ModelRelease> modelReleases(Clock clock) {
        return specific(ModelRelease.getEncoder(), ModelRelease.getClassSchema(),
                SchemaHistory.released("ModelRelease"), FieldRules::release, MAX_MESSAGE_BYTES, clock);
    }

    public static WireCodec<DeadLetter> deadLetters(Clock clock) {
        return specific(DeadLetter.getEncoder(), DeadLetter.getClassSchema(),
                SchemaHistory.released("DeadLetter"), FieldRules::deadLetter, MAX_DEAD_LETTER_BYTES, clock);
    }

    /**
     * Decodes with Avro's resolving reader rather than its fast reader: the fast reader fails on
     * bad enum and union indices with bare array-index errors, which HotSpot strips of message and
     * stack once they are frequent, so they could not be told apart.
     */
    private static <T> WireCodec<T> specific(BinaryMessageEncoder<T> encoder, Schema schema, SchemaHistory history,
                                             Rules<T> rules, int maxBytes, Clock clock) {
        SpecificData model = new SpecificData(WireCodec.class.getClassLoader());
        model.setFastReaderEnabled(false);
        return new WireCodec<>(schema.getName(), encoder, new BinaryMessageDecoder<>(model, schema, history.store()),
                rules, maxBytes, clock, FieldRules.MAX_FUTURE_SKEW);
    }

    public byte[] encode(T value) {
        try {
            ByteBuffer buffer = encoder.encode(value);
            byte[] bytes = new byte[buffer.remaining()];
            buffer.get(bytes);
            return bytes;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode " + record, e);
        }
    }

    public Decoded<T> decode(byte[] bytes) {
        if (bytes == null || bytes.length == 0) {
            return new Decoded.Invalid<>(new Rejection.Empty());
        }
        if (bytes.length > maxBytes) {
            return new Decoded.Invalid<>(new Rejection.TooLarge(bytes.length, maxBytes));
        }
        ByteArrayInputStream in = new ByteArrayInputStream(bytes);
        T value;
        try {
            value = decoder.decode(in, null);
        } catch (IOException | RuntimeException e) {
            return new Decoded.Invalid<>(classify(e, bytes));
        }
        if (in.available() > 0) {
            return new Decoded.Invalid<>(new Rejection.TrailingBytes(in.available()));
        }
        return rules.check(value, clock.instant().plus(maxFutureSkew))
                .<Decoded<T>>map(Decoded.Invalid::new)
                .orElseGet(() -> new Decoded.Valid<>(value));
    }

    private Rejection classify(Exception e, byte[] bytes) {
        if (e instanceof BadHeaderException) {
            return new Rejection.BadHeader(e.getMessage());
        }
        if (e instanceof MissingSchemaException) {
            long fingerprint = ByteBuffer.wrap(bytes, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            return new Rejection.UnknownSchema(record, "0x" + HexFormat.of().toHexDigits(fingerprint));
        }
        Throwable cause = e.getCause() != null ? e.getCause() : e;
        String detail = String.valueOf(cause.getMessage());
        if (cause instanceof EOFException) {
            return new Rejection.Truncated("end of data while reading the body");
        }
        // Avro's own limits, and its refusal of counts past Java's array size.
        if (cause instanceof SystemLimitException || cause instanceof UnsupportedOperationException) {
            return new Rejection.LengthOverLimit(detail);
        }
        // A symbol the reader lacks is named in Avro's message. An index past the symbols fails in the
        // resolving reader's List.get of the enum's symbols, the one plain IndexOutOfBoundsException it
        // raises (bad union indices fail on an array instead).
        if (cause instanceof AvroTypeException && detail.startsWith("No match for")
                || cause.getClass() == IndexOutOfBoundsException.class) {
            return new Rejection.UnknownEnumSymbol(detail);
        }
        String name = cause.getClass().getSimpleName();
        return new Rejection.Malformed(cause.getMessage() == null ? name : name + ": " + detail);
    }

    /**
     * Avro allocates whatever length a string, bytes or collection header claims, so garbage
     * could ask for gigabytes. Its limits are read from system properties once, when its
     * SystemLimitException class loads, which may already have happened; so set them and make
     * Avro read them again. No legitimate field is longer than a whole message.
     */
    private static void limitAvroAllocations() {
        setIfAbsent(SystemLimitException.MAX_STRING_LENGTH_PROPERTY, MAX_DEAD_LETTER_BYTES);
        setIfAbsent(SystemLimitException.MAX_BYTES_LENGTH_PROPERTY, MAX_DEAD_LETTER_BYTES);
        setIfAbsent(SystemLimitException.MAX_COLLECTION_LENGTH_PROPERTY, MAX_COLLECTION_ITEMS);
        try {
            Method reset = SystemLimitException.class.getDeclaredMethod("resetLimits");
            reset.setAccessible(true);
            reset.invoke(null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot apply Avro's allocation limits; is Avro 1.12 on the classpath?", e);
        }
    }

    private static void setIfAbsent(String property, int value) {
        if (System.getProperty(property) == null) {
            System.setProperty(property, Integer.toString(value));
        }
    }
}
