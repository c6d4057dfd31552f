package dev.kaizen.operators.release;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** How answers degenerate under thumbs: they grow long, and they repeat themselves. */
public final class Degeneration {

    private Degeneration() {}

    /** The mean number of tokens of {@code answers}. */
    public static double meanLength(List<int[]> answers) {
        return answers.stream().mapToInt(a -> a.length).average().orElse(0);
    }

    /**
     * Distinct-2 (Li et al., 2016): the distinct token bigrams of all answers over all their
     * bigrams; 0 when no answer has two tokens. Repetition drives it down.
     */
    public static double distinct2(List<int[]> answers) {
        Set<Long> distinct = new HashSet<>();
        long total = 0;
        for (int[] a : answers) {
            for (int i = 1; i < a.length; i++) {
                distinct.add(((long) a[i - 1] << 32) | (a[i] & 0xffffffffL));
                total++;
            }
        }
        return total == 0 ? 0 : (double) distinct.size() / total;
    }
}
