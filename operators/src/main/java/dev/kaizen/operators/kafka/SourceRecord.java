package dev.kaizen.operators.kafka;

import java.util.Map;

import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;

/**
 * A Kafka record as the source read it: where it came from, and its value decoded there by the
 * wire codec, once, for both the watermarks and the validate stage. A value that did not decode or
 * broke a field rule is null, and its bytes come along, so it reaches the dead-letter topic intact.
 */
public record SourceRecord<T>(String topic, int partition, long offset, T value, byte[] bytes) {

    /** A record that passed the codec: its bytes are no longer needed. */
    public static <T> SourceRecord<T> valid(String topic, int partition, long offset, T value) {
        return new SourceRecord<>(topic, partition, offset, value, null);
    }

    /** A record the codec refused, with its bytes as read (null for a record without a value). */
    public static <T> SourceRecord<T> refused(String topic, int partition, long offset, byte[] bytes) {
        return new SourceRecord<>(topic, partition, offset, null, bytes);
    }

    /** Flink's type for records of {@code valueType}: a POJO of known fields, so Flink never falls back to Kryo. */
    @SuppressWarnings("unchecked")
    public static <T> TypeInformation<SourceRecord<T>> type(Class<T> valueType) {
        return (TypeInformation<SourceRecord<T>>) (TypeInformation<?>) Types.POJO(SourceRecord.class, Map.of(
                "topic", Types.STRING, "partition", Types.INT, "offset", Types.LONG,
                "value", TypeInformation.of(valueType), "bytes", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
    }
}
