package dev.kaizen.operators.update;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class UnreferencedTest {

    @Test
    void aDirectoryGoesOnceAsManyCheckpointsWithoutItAsFlinkRetainsHaveCompletedAndOneMore() {
        Unreferenced u = new Unreferenced(2);
        u.add("a");
        assertThat(u.deletable(9)).as("not yet left out of a checkpoint").isEmpty();
        u.snapshot(10);
        u.add("b");
        assertThat(u.deletable(10)).isEmpty();
        u.snapshot(11);
        assertThat(u.deletable(11)).isEmpty();
        assertThat(u.deletable(12)).containsExactly("a");
        assertThat(u.deletable(13)).containsExactly("b");
        assertThat(u.snapshot(14)).isEmpty();
    }

    /** Ids say nothing of completions: with 10 to 12 aborted, Flink still keeps 9, which names the directory. */
    @Test
    void checkpointsThatAbortedDoNotCount() {
        Unreferenced u = new Unreferenced(2);
        u.add("a");
        u.snapshot(10);
        assertThat(u.deletable(13)).as("9 and 13 retained").isEmpty();
        assertThat(u.deletable(14)).as("13 and 14 retained; one more for a savepoint").isEmpty();
        assertThat(u.deletable(15)).containsExactly("a");
    }

    @Test
    void whatIsPendingAndItsCountsSurviveARestore() {
        Unreferenced u = new Unreferenced(2);
        u.add("a");
        u.snapshot(10);
        u.deletable(10);
        Unreferenced restored = new Unreferenced(2);
        restored.restore(u.snapshot(11));
        assertThat(restored.deletable(11)).isEmpty();
        assertThat(restored.deletable(12)).containsExactly("a");
    }
}
