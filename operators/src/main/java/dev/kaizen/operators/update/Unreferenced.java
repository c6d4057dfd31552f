package dev.kaizen.operators.update;

import java.util.ArrayList;
import java.util.List;

/**
 * Checkpoint directories of the store that the update stage's state no longer names, each waiting
 * until no retained Flink checkpoint names it either. One is unreferenced between two Flink
 * checkpoints; the second is the first whose state does not name it ({@code since}). Flink keeps
 * the last {@code retained} completed checkpoints, so once checkpoint {@code since + retained}
 * has completed (one more than strictly needed, for a savepoint taken in between) no checkpoint a
 * restore can use names the directory, and it can go.
 */
final class Unreferenced {

    /** A directory to delete; {@code since} is -1 until the next checkpoint is taken. */
    record Pending(String uri, long since) {}

    private final int retained;
    private final List<Pending> pending = new ArrayList<>();

    Unreferenced(int retained) {
        this.retained = retained;
    }

    void add(String uri) {
        pending.add(new Pending(uri, -1));
    }

    /** Everything pending, those unreferenced since the last checkpoint marked as first left out of {@code checkpointId}. */
    List<Pending> snapshot(long checkpointId) {
        pending.replaceAll(p -> p.since() < 0 ? new Pending(p.uri(), checkpointId) : p);
        return List.copyOf(pending);
    }

    void restore(Iterable<Pending> restored) {
        pending.clear();
        restored.forEach(pending::add);
    }

    /** Removes and returns the uris no retained checkpoint names once checkpoint {@code completed} has completed. */
    List<String> deletable(long completed) {
        List<String> due = new ArrayList<>();
        pending.removeIf(p -> {
            boolean gone = p.since() >= 0 && p.since() + retained <= completed;
            if (gone) {
                due.add(p.uri());
            }
            return gone;
        });
        return due;
    }
}
