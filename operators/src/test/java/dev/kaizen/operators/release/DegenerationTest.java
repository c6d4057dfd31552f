package dev.kaizen.operators.release;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.Test;

class DegenerationTest {

    /** Bigrams (1,2) (2,3) | (1,2) (2,1) (1,2) | none: 3 distinct of 5. */
    @Test
    void distinct2CountsDistinctBigramsOverAllAnswersAgainstAllBigrams() {
        List<int[]> answers = List.of(new int[] {1, 2, 3}, new int[] {1, 2, 1, 2}, new int[] {7});
        assertThat(Degeneration.distinct2(answers)).isEqualTo(3.0 / 5);
        assertThat(Degeneration.meanLength(answers)).isEqualTo(8.0 / 3);
    }

    @Test
    void aLoopHasFewDistinctBigramsAndNoBigramsScoreZero() {
        assertThat(Degeneration.distinct2(List.of(new int[] {5, 5, 5, 5, 5}))).isEqualTo(1.0 / 4);
        // Bigrams are ordered: (2,1) is not (1,2); and a token id's sign does not fold it onto another.
        assertThat(Degeneration.distinct2(List.of(new int[] {1, 2, 1}, new int[] {-1, 2}))).isEqualTo(1.0);
        assertThat(Degeneration.distinct2(List.of(new int[] {3}, new int[0]))).isZero();
        assertThat(Degeneration.meanLength(List.of())).isZero();
    }
}
