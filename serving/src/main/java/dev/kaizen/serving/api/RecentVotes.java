package dev.kaizen.serving.api;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * The thumbs-up share of the latest {@link #WINDOW} votes taken through the API, whoever cast
 * them (a person at the page or a script), and of the first such window, for a before and after.
 */
public final class RecentVotes {

    public static final int WINDOW = 200;

    private final Deque<Boolean> window = new ArrayDeque<>();
    private long count;
    private Double initialRate;

    synchronized void add(boolean up) {
        window.addLast(up);
        if (window.size() > WINDOW) {
            window.removeFirst();
        }
        count++;
        if (count == WINDOW) {
            initialRate = rate();
        }
    }

    /** Thumbs-up share of the last {@link #WINDOW} votes (NaN before the first). */
    public synchronized double rate() {
        return window.isEmpty() ? Double.NaN : window.stream().filter(b -> b).count() / (double) window.size();
    }

    /** The rate over the first {@link #WINDOW} votes, once there were that many; until then the rate so far. */
    public synchronized double initialRate() {
        return initialRate != null ? initialRate : rate();
    }

    /** Up and down votes taken (a cleared vote is not one). */
    public synchronized long count() {
        return count;
    }
}
