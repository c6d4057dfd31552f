package dev.kaizen.serving.follow;

import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Which conversations a canary candidate answers: {@code fraction} of them. A request naming its
 * user (OpenAI's {@code user} field) is placed by a hash of the user and the candidate's version,
 * so a user stays on one release for the whole trial and the next candidate is tried on another
 * share of the users; a request without one is placed at random.
 */
public record CanaryRouting(double fraction) {

    public CanaryRouting {
        if (!(fraction >= 0 && fraction <= 1)) {
            throw new IllegalArgumentException("the canary fraction must lie in [0, 1], not " + fraction);
        }
    }

    public boolean toCandidate(String user, long candidate) {
        return position(user, candidate) < fraction;
    }

    /** Where the user falls in [0, 1) for this candidate: the top 53 bits of an MD5 name-based UUID, uniform enough for bucketing. */
    static double position(String user, long candidate) {
        if (user == null) {
            return ThreadLocalRandom.current().nextDouble();
        }
        long bits = UUID.nameUUIDFromBytes((candidate + "/" + user).getBytes(StandardCharsets.UTF_8)).getMostSignificantBits();
        return (bits >>> 11) * 0x1.0p-53;
    }
}
