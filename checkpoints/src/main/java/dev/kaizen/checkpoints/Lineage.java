package dev.kaizen.checkpoints;

import java.util.NavigableMap;

import dev.kaizen.schemas.ModelUpdate;

/** Which announced versions follow on from one another: each names the one before it as its parent. */
public final class Lineage {

    private Lineage() {}

    /**
     * The newest version reachable from {@code from} through versions announced one after another,
     * each naming the one before as its parent; {@code from} itself when the next is missing or
     * names another parent.
     */
    public static long reachable(NavigableMap<Long, ModelUpdate> announced, long from) {
        long reachable = from;
        while (announced.containsKey(reachable + 1) && announced.get(reachable + 1).getParentVersion() == reachable) {
            reachable++;
        }
        return reachable;
    }
}
