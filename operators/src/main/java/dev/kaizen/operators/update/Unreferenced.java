package dev.kaizen.operators.update;

import java.util.ArrayList;
import java.util.List;

/**
 * Checkpoint directories of the store that the update stage's state no longer names, each waiting
 * until no retained Flink checkpoint names it either. One is unreferenced between two Flink
 * checkpoints; the second is the first whose state does not name it ({@code since}). Flink keeps
 * the last {@code retained} completed checkpoints, so once {@code retained} checkpoints from
 * {@code since} on are known to have completed (and one more, for a savepoint taken in between)
 * no checkpoint a restore can use names the directory, and it can go. Completions are counted, not
 * inferred from ids: a checkpoint that aborted leaves an older one retained, and Flink may skip a
 * notification (then the directory waits one more).
 */
final class Unreferenced {

    /** A directory to delete; {@code since} is -1 until the next checkpoint is taken; {@code completed} counts those since it. */
    record Pending(String uri, long since, int completed) {}

    private final int retained;
    private final List<Pending> pending = new ArrayList<>();

    Unreferenced(int retained) {
        this.retained = retained;
    }

    void add(String uri) {
        pending.add(new Pending(uri, -1, 0));
    }

    /** Everything pending, those unreferenced since the last checkpoint marked as first left out of {@code checkpointId}. */
    List<Pending> snapshot(long checkpointId) {
        pending.replaceAll(p -> p.since() < 0 ? new Pending(p.uri(), checkpointId, 0) : p);
        return List.copyOf(pending);
    }

    void restore(Iterable<Pending> restored) {
        pending.clear();
        restored.forEach(pending::add);
    }

    /** Counts checkpoint {@code completed} as complete; removes and returns the uris no retained checkpoint names now. */
    List<String> deletable(long completed) {
        List<String> due = new ArrayList<>();
        pending.replaceAll(p -> p.since() >= 0 && p.since() <= completed ? new Pending(p.uri(), p.since(), p.completed() + 1) : p);
        pending.removeIf(p -> {
            boolean gone = p.completed() > retained;
            if (gone) {
                due.add(p.uri());
            }
            return gone;
        });
        return due;
    }
}
