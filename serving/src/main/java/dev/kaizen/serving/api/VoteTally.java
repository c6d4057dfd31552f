package dev.kaizen.serving.api;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Thumbs up and down per version, for the page's chart: which version wrote each answer given
 * here (the latest {@code capacity} answers), and each user's current vote on each answer, so a
 * changed vote moves and a cleared one leaves. Votes on answers it did not give are not counted.
 */
final class VoteTally {

    /** One version's tally. */
    record Rate(long version, long up, long down) {
        double rate() {
            return up + down == 0 ? 0 : (double) up / (up + down);
        }
    }

    private final Map<String, Long> versionOf;
    private final Map<String, Boolean> votes;
    private final Map<Long, long[]> counts = new TreeMap<>();

    VoteTally(int capacity) {
        versionOf = new LinkedHashMap<>(16, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
                return size() > capacity;
            }
        };
        votes = new LinkedHashMap<>(16, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                return size() > capacity;
            }
        };
    }

    synchronized void answered(String responseId, long version) {
        versionOf.put(responseId, version);
        counts.computeIfAbsent(version, v -> new long[2]);
    }

    /** Records a vote: {@code up} true or false, or null for a cleared vote. */
    synchronized void vote(String responseId, String userId, Boolean up) {
        Long version = versionOf.get(responseId);
        if (version == null) {
            return;
        }
        long[] count = counts.get(version);
        String key = responseId + "\u0000" + userId;
        Boolean before = up == null ? votes.remove(key) : votes.put(key, up);
        if (before != null) {
            count[before ? 0 : 1]--;
        }
        if (up != null) {
            count[up ? 0 : 1]++;
        }
    }

    synchronized java.util.List<Rate> rates() {
        return counts.entrySet().stream().map(e -> new Rate(e.getKey(), e.getValue()[0], e.getValue()[1])).toList();
    }
}
