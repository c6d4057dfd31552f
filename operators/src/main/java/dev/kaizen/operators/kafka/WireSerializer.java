package dev.kaizen.operators.kafka;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.time.Clock;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

import dev.kaizen.schemas.wire.WireCodec;

/**
 * Writes records to one topic in the wire format (Avro single-object encoding), keyed so that
 * records of one key keep their order (a model's versions, a response's votes).
 */
public final class WireSerializer<T> implements KafkaRecordSerializationSchema<T> {

    /** The Kafka key of a record, e.g. its model_id. */
    @FunctionalInterface
    public interface KeyOf<T> extends Serializable {
        String key(T value);
    }

    private final String topic;
    private final CodecFactory<T> factory;
    private final KeyOf<T> keyOf;
    private transient WireCodec<T> codec;

    public WireSerializer(String topic, CodecFactory<T> factory, KeyOf<T> keyOf) {
        this.topic = topic;
        this.factory = factory;
        this.keyOf = keyOf;
    }

    public String topic() {
        return topic;
    }

    @Override
    public void open(SerializationSchema.InitializationContext context, KafkaSinkContext sinkContext) {
        codec = factory.create(Clock.systemUTC());
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(T element, KafkaSinkContext context, Long timestamp) {
        return new ProducerRecord<>(topic, null, timestamp, keyOf.key(element).getBytes(StandardCharsets.UTF_8),
                codec.encode(element));
    }
}
