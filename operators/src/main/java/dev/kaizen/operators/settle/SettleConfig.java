package dev.kaizen.operators.settle;

import java.io.Serializable;
import java.time.Duration;

/**
 * The time bounds of settling: a vote is final once the watermark passes its time plus
 * {@code lateness}; a final vote waits {@code responseWait} for its answer's text before it is
 * dead-lettered; a response's state is dropped {@code retention} after it was last written, in
 * processing time (Flink's state TTL): it bounds deduplication, and must outlast any stall of the
 * watermark, or votes waiting for it would expire with their response.
 */
public record SettleConfig(Duration lateness, Duration responseWait, Duration retention) implements Serializable {

    public SettleConfig {
        if (lateness.isNegative() || responseWait.isNegative() || retention.compareTo(lateness.plus(responseWait)) < 0) {
            throw new IllegalArgumentException("lateness and response wait must be non-negative and retention at least "
                    + "their sum; got " + lateness + ", " + responseWait + ", " + retention);
        }
    }

    /** How long after its event time a vote may still leave this stage: final at the lateness, then waiting for its text. */
    public Duration horizon() {
        return lateness.plus(responseWait);
    }

    public static SettleConfig defaults() {
        return new SettleConfig(Duration.ofMinutes(10), Duration.ofHours(1), Duration.ofDays(1));
    }
}
