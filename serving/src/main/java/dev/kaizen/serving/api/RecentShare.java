package dev.kaizen.serving.api;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * The share of yes among the latest {@link #WINDOW} of a stream of yes and no, and of the first
 * such window, for a before and after: serving's thumbs-up rate of the votes taken through the API
 * (whoever cast them, a person at the page or a script), the demo's share of right answers.
 */
public final class RecentShare {

    public static final int WINDOW = 200;

    private final Deque<Boolean> window = new ArrayDeque<>();
    private long count;
    private Double initialRate;

    public synchronized void add(boolean yes) {
        window.addLast(yes);
        if (window.size() > WINDOW) {
            window.removeFirst();
        }
        count++;
        if (count == WINDOW) {
            initialRate = rate();
        }
    }

    /** The share of yes among the last {@link #WINDOW} (NaN before the first). */
    public synchronized double rate() {
        return window.isEmpty() ? Double.NaN : window.stream().filter(b -> b).count() / (double) window.size();
    }

    /** The share over the first {@link #WINDOW}, once there were that many; until then the share so far. */
    public synchronized double initialRate() {
        return initialRate != null ? initialRate : rate();
    }

    /** How many were added (for votes: up and down, a cleared vote is not one). */
    public synchronized long count() {
        return count;
    }
}
