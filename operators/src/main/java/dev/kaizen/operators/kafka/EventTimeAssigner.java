package dev.kaizen.operators.kafka;

import java.time.Clock;
import java.time.Instant;

import org.apache.flink.api.common.eventtime.TimestampAssigner;
import org.apache.flink.api.common.eventtime.TimestampAssignerSupplier;
import org.apache.flink.util.function.SerializableFunction;

import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;

/**
 * Event time for raw records at the Kafka source, so that watermarks are tracked per partition
 * (a source subtask that reads several partitions would otherwise mix them out of order and make
 * votes late at random). A record that does not decode gets no timestamp, so garbage cannot move
 * the watermark (Kafka's append time would jump it to now and make every later vote late);
 * validation dead-letters it right after.
 */
public final class EventTimeAssigner<T> implements TimestampAssigner<RawRecord> {

    private final WireCodec<T> codec;
    private final SerializableFunction<T, Instant> timeOf;

    private EventTimeAssigner(WireCodec<T> codec, SerializableFunction<T, Instant> timeOf) {
        this.codec = codec;
        this.timeOf = timeOf;
    }

    /** The assigner, made on each task from serializable parts: the codec itself is not serializable. */
    public static <T> TimestampAssignerSupplier<RawRecord> of(CodecFactory<T> factory,
                                                              SerializableFunction<T, Instant> timeOf) {
        return context -> new EventTimeAssigner<>(factory.create(Clock.systemUTC()), timeOf);
    }

    @Override
    public long extractTimestamp(RawRecord record, long kafkaTimestamp) {
        return codec.decode(record.value()) instanceof Decoded.Valid<T> v ? timeOf.apply(v.value()).toEpochMilli()
                : NO_TIMESTAMP;
    }
}
