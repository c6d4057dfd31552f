package dev.kaizen.operators.kafka;

import java.time.Clock;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;

/**
 * Decodes every Kafka record once, in the source, with the wire codec and its field rules, and
 * never fails: a record that does not pass keeps its bytes and goes on, for the validate stage to
 * dead-letter, instead of failing the source.
 */
public final class DecodingDeserializer<T> implements KafkaRecordDeserializationSchema<SourceRecord<T>> {

    private final CodecFactory<T> factory;
    private final Class<T> type;
    private transient WireCodec<T> codec;

    public DecodingDeserializer(Class<T> type, CodecFactory<T> factory) {
        this.type = type;
        this.factory = factory;
    }

    @Override
    public void open(DeserializationSchema.InitializationContext context) {
        codec = factory.create(Clock.systemUTC());
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<SourceRecord<T>> out) {
        out.collect(codec.decode(record.value()) instanceof Decoded.Valid<T> v
                ? SourceRecord.valid(record.topic(), record.partition(), record.offset(), v.value())
                : SourceRecord.refused(record.topic(), record.partition(), record.offset(), record.value()));
    }

    @Override
    public TypeInformation<SourceRecord<T>> getProducedType() {
        return SourceRecord.type(type);
    }
}
