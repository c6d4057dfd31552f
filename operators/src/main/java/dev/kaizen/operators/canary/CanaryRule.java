package dev.kaizen.operators.canary;

import java.io.Serializable;

import org.apache.commons.math3.distribution.NormalDistribution;

/**
 * The canary's verdict on a candidate release against the promoted one, from the thumbs both drew
 * in the same window: a group-sequential one-sided test of "the candidate is worse". It looks at
 * the candidate's {@code minVotes}-th vote and every {@code lookEvery} votes after, up to
 * {@code maxVotes}. Each look spends part of {@code alpha} by the Lan–DeMets O'Brien–Fleming
 * function, alpha(t) = 2 − 2Φ(z(1−alpha/2)/√t) at t = votes/maxVotes, and rejects when its
 * one-sided p-value is below that look's share (a Bonferroni bound over the looks, so a release as
 * good as the promoted one is rolled back with probability at most {@code alpha}; almost all of it
 * is spent at the last look, so early looks stop only clear failures). A candidate shown not worse
 * by more than {@code margin} at a look's share is promoted early. The last look decides: not shown
 * worse, promoted. With fewer than {@code minVotes} on the promoted release there is nothing to
 * compare with, and the last look rolls back: the release users already have stays.
 */
public record CanaryRule(int minVotes, int lookEvery, int maxVotes, double alpha, double margin) implements Serializable {

    public enum Verdict { WAIT, PROMOTE, ROLLBACK }

    private static final NormalDistribution NORMAL = new NormalDistribution(null, 0, 1);

    public CanaryRule {
        if (minVotes < 1 || lookEvery < 1 || maxVotes < minVotes) {
            throw new IllegalArgumentException("canary votes must satisfy 1 <= min-votes <= max-votes and look-every >= 1");
        }
        if (!(alpha > 0 && alpha < 0.5) || !(margin >= 0 && margin < 1)) {
            throw new IllegalArgumentException("canary alpha must lie in (0, 0.5) and margin in [0, 1)");
        }
    }

    /** The verdict once the candidate has {@code candidateVotes} votes ({@code candidateUp} up) and the promoted release those it drew meanwhile. */
    public Verdict judge(long candidateUp, long candidateVotes, long promotedUp, long promotedVotes) {
        boolean last = candidateVotes >= maxVotes;
        if (!last && (candidateVotes < minVotes || (candidateVotes - minVotes) % lookEvery != 0)) {
            return Verdict.WAIT;
        }
        if (promotedVotes < minVotes) {
            return last ? Verdict.ROLLBACK : Verdict.WAIT;
        }
        long votes = Math.min(candidateVotes, maxVotes);
        long previous = votes <= minVotes ? 0 : minVotes + (votes - 1 - minVotes) / lookEvery * lookEvery;
        double share = spent(votes) - spent(previous);
        // Agresti–Caffo: one success and one failure added to each arm keeps the error finite at 0% or 100%.
        double candidate = (candidateUp + 1.0) / (candidateVotes + 2.0);
        double promoted = (promotedUp + 1.0) / (promotedVotes + 2.0);
        double se = Math.sqrt(candidate * (1 - candidate) / (candidateVotes + 2.0) + promoted * (1 - promoted) / (promotedVotes + 2.0));
        if (NORMAL.cumulativeProbability((candidate - promoted) / se) < share) {
            return Verdict.ROLLBACK;
        }
        if (last || 1 - NORMAL.cumulativeProbability((candidate - promoted + margin) / se) < share) {
            return Verdict.PROMOTE;
        }
        return Verdict.WAIT;
    }

    /** The error rate spent by the time the candidate has {@code votes} votes. */
    double spent(long votes) {
        return votes <= 0 ? 0 : 2 - 2 * NORMAL.cumulativeProbability(NORMAL.inverseCumulativeProbability(1 - alpha / 2) / Math.sqrt((double) votes / maxVotes));
    }
}
