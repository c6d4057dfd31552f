package dev.kaizen.checkpoints;

import java.util.NavigableMap;

import dev.kaizen.schemas.ModelUpdate;

/**
 * Which announced versions follow on from one another without a gap. Each names the release it was
 * trained from as its parent: the one before it, or an earlier one when the job set the releases
 * in between aside (a canary rolled back, training went on from the promoted release).
 */
public final class Lineage {

    private Lineage() {}

    /**
     * The newest version reachable from {@code from} through versions announced one after another,
     * each naming an earlier one as its parent; {@code from} itself when the next is missing or
     * names a parent that is not older.
     */
    public static long reachable(NavigableMap<Long, ModelUpdate> announced, long from) {
        long reachable = from;
        while (announced.containsKey(reachable + 1) && announced.get(reachable + 1).getParentVersion() <= reachable) {
            reachable++;
        }
        return reachable;
    }
}
