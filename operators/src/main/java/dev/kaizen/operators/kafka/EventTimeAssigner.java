package dev.kaizen.operators.kafka;

import java.time.Instant;

import org.apache.flink.api.common.eventtime.TimestampAssigner;
import org.apache.flink.api.common.eventtime.TimestampAssignerSupplier;
import org.apache.flink.util.function.SerializableFunction;

/**
 * Event time for records at the Kafka source, so that watermarks are tracked per partition (a
 * source subtask that reads several partitions would otherwise mix them out of order and make
 * votes late at random). A record the codec refused gets no timestamp, so garbage cannot move the
 * watermark (Kafka's append time would jump it to now and make every later vote late); validation
 * dead-letters it right after.
 */
public final class EventTimeAssigner<T> implements TimestampAssigner<SourceRecord<T>> {

    private final SerializableFunction<T, Instant> timeOf;

    private EventTimeAssigner(SerializableFunction<T, Instant> timeOf) {
        this.timeOf = timeOf;
    }

    public static <T> TimestampAssignerSupplier<SourceRecord<T>> of(SerializableFunction<T, Instant> timeOf) {
        return context -> new EventTimeAssigner<>(timeOf);
    }

    @Override
    public long extractTimestamp(SourceRecord<T> record, long kafkaTimestamp) {
        return record.value() != null ? timeOf.apply(record.value()).toEpochMilli() : NO_TIMESTAMP;
    }
}
