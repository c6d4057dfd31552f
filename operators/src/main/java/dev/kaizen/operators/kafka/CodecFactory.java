package dev.kaizen.operators.kafka;

import java.io.Serializable;
import java.time.Clock;

import dev.kaizen.schemas.wire.WireCodec;

/** Makes the (not serializable) wire codec on the task, from a serializable recipe. */
@FunctionalInterface
public interface CodecFactory<T> extends Serializable {
    WireCodec<T> create(Clock clock);
}
