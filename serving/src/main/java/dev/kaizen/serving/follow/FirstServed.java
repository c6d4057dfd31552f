package dev.kaizen.serving.follow;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.DoubleConsumer;

import dev.kaizen.schemas.ModelUpdate;

/**
 * The seconds from each version's announcement (its {@code created_at}) to its first entering
 * service on this replica, told once per version to a listener. Versions announced before the
 * replica started are left out: their wait measures its downtime, not the loop.
 */
public final class FirstServed {

    private final long startedAt = System.currentTimeMillis();
    private final Set<Long> seen = ConcurrentHashMap.newKeySet();
    private volatile DoubleConsumer listener = seconds -> { };

    public void listen(DoubleConsumer listener) {
        this.listener = listener;
    }

    /** {@code update}'s version enters service now, as candidate or promoted release. */
    public void served(ModelUpdate update) {
        long announced = update.getCreatedAt().toEpochMilli();
        if (announced >= startedAt && seen.add(update.getVersion())) {
            listener.accept((System.currentTimeMillis() - announced) / 1000.0);
        }
    }
}
