package dev.kaizen.operators.settle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;

import org.junit.jupiter.api.Test;

class SettleConfigTest {

    private static final Duration MINUTE = Duration.ofMinutes(1);

    /** Zero lateness and zero wait are allowed, and a retention of exactly their sum; anything less is refused. */
    @Test
    void theRetentionCoversAtLeastTheLatenessAndTheWait() {
        assertThat(new SettleConfig(Duration.ZERO, Duration.ZERO, Duration.ZERO).horizon()).isZero();
        assertThat(new SettleConfig(MINUTE, MINUTE.multipliedBy(2), MINUTE.multipliedBy(3)).horizon()).isEqualTo(MINUTE.multipliedBy(3));
        assertThatThrownBy(() -> new SettleConfig(MINUTE, MINUTE.multipliedBy(2), MINUTE.multipliedBy(3).minusMillis(1)))
                .hasMessageContaining("retention at least their sum");
        assertThatThrownBy(() -> new SettleConfig(MINUTE.negated(), MINUTE, MINUTE)).hasMessageContaining("non-negative");
        assertThatThrownBy(() -> new SettleConfig(MINUTE, MINUTE.negated(), MINUTE)).hasMessageContaining("non-negative");
    }

    @Test
    void theDefaultsWaitTenMinutesForAChangeOfMindAndAnHourForTheAnswer() {
        assertThat(SettleConfig.defaults()).isEqualTo(new SettleConfig(Duration.ofMinutes(10), Duration.ofHours(1), Duration.ofDays(1)));
    }
}
