package dev.kaizen.operators.validate;

import java.time.Clock;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

import dev.kaizen.operators.deadletter.DeadLetters;
import dev.kaizen.operators.kafka.CodecFactory;
import dev.kaizen.operators.kafka.SourceRecord;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.Rejection;
import dev.kaizen.schemas.wire.WireCodec;

/**
 * The validate stage: records the source decoded (see {@link SourceRecord}) go on; anything else
 * becomes a dead letter on {@link DeadLetters#TAG} with the original bytes, where it came from and
 * the reason, which decoding them again names. Bad input never stops the job.
 */
public final class ValidateRecords<T> extends ProcessFunction<SourceRecord<T>, T> implements ResultTypeQueryable<T> {

    private final Class<T> type;
    private final CodecFactory<T> factory;
    private transient WireCodec<T> codec;
    private transient Counter valid;
    private transient Map<String, Counter> rejected;

    public ValidateRecords(Class<T> type, CodecFactory<T> factory) {
        this.type = type;
        this.factory = factory;
    }

    /** The record class, which Flink's type extraction cannot see through the type variable. */
    @Override
    public TypeInformation<T> getProducedType() {
        return TypeInformation.of(type);
    }

    @Override
    public void open(OpenContext context) {
        codec = factory.create(Clock.systemUTC());
        valid = getRuntimeContext().getMetricGroup().counter("valid");
        rejected = new HashMap<>();
    }

    @Override
    public void processElement(SourceRecord<T> record, Context ctx, Collector<T> out) {
        // A refused record decoded again is valid only if its time was too far ahead at the source and no longer is.
        Decoded<T> decoded = record.value() != null ? new Decoded.Valid<>(record.value()) : codec.decode(record.bytes());
        if (decoded instanceof Decoded.Valid<T> v) {
            valid.inc();
            out.collect(v.value());
            return;
        }
        Rejection rejection = ((Decoded.Invalid<T>) decoded).rejection();
        // One counter per reason, as a metric variable, so dashboards can split dead letters by cause.
        rejected.computeIfAbsent(rejection.code(),
                code -> getRuntimeContext().getMetricGroup().addGroup("reason", code).counter("deadLettered")).inc();
        ctx.output(DeadLetters.TAG, DeadLetters.asRead(record, rejection, Instant.now()));
    }
}
