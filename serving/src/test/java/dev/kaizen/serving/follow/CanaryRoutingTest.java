package dev.kaizen.serving.follow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.stream.IntStream;

import org.junit.jupiter.api.Test;

class CanaryRoutingTest {

    private static long routed(CanaryRouting routing, long candidate) {
        return IntStream.range(0, 100_000).filter(u -> routing.toCandidate("user-" + u, candidate)).count();
    }

    @Test
    void theCandidateGetsItsFractionOfUsersEachUserAlwaysTheSameWay() {
        CanaryRouting routing = new CanaryRouting(0.1);
        // 100,000 users at 0.1: 10,000 expected, standard deviation about 95.
        assertThat(routed(routing, 7)).isBetween(9_600L, 10_400L);
        for (int u = 0; u < 1000; u++) {
            assertThat(routing.toCandidate("user-" + u, 7)).isEqualTo(routing.toCandidate("user-" + u, 7));
        }
        assertThat(routed(new CanaryRouting(0), 7)).isZero();
        assertThat(routed(new CanaryRouting(1), 7)).isEqualTo(100_000);
    }

    @Test
    void eachCandidateIsTriedOnAnotherShareOfUsers() {
        CanaryRouting routing = new CanaryRouting(0.1);
        long both = IntStream.range(0, 100_000).filter(u -> routing.toCandidate("user-" + u, 7) && routing.toCandidate("user-" + u, 8)).count();
        // Independent draws: about 1% of users are in both canaries, not the same 10%.
        assertThat(both).isBetween(800L, 1_200L);
    }

    @Test
    void requestsWithoutAUserAreRoutedAtRandom() {
        CanaryRouting routing = new CanaryRouting(0.25);
        long routed = IntStream.range(0, 40_000).filter(i -> routing.toCandidate(null, 7)).count();
        assertThat(routed).isBetween(9_600L, 10_400L);
    }

    @Test
    void aFractionOutsideZeroToOneIsRefused() {
        assertThatThrownBy(() -> new CanaryRouting(1.5)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1.5");
        assertThatThrownBy(() -> new CanaryRouting(Double.NaN)).isInstanceOf(IllegalArgumentException.class);
    }
}
