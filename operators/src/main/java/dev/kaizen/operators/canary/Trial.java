package dev.kaizen.operators.canary;

import java.time.Instant;

import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ReleaseDecision;

/**
 * A release on trial as a canary: the settled votes on its answers, and on the promoted release's
 * answers in the same window (votes cast from the moment it was announced, {@code since}), kept in
 * the update stage's keyed state until the {@link CanaryRule} decides.
 */
public record Trial(long version, long since, long candidateUp, long candidateVotes, long promotedUp, long promotedVotes) {

    public static Trial of(long version, long since) {
        return new Trial(version, since, 0, 0, 0, 0);
    }

    /** Whether {@code vote}, cast in the window, is about an answer of the candidate. */
    public boolean judges(SettledVote vote) {
        return about(vote, version);
    }

    /** The trial with {@code vote} counted when it is about the candidate's or the {@code promoted} release's answers and cast in the window. */
    public Trial count(SettledVote vote, long promoted) {
        long up = vote.desirable() ? 1 : 0;
        if (judges(vote)) {
            return new Trial(version, since, candidateUp + up, candidateVotes + 1, promotedUp, promotedVotes);
        }
        if (about(vote, promoted)) {
            return new Trial(version, since, candidateUp, candidateVotes, promotedUp + up, promotedVotes + 1);
        }
        return this;
    }

    /** Whether {@code vote} was cast in the window about an answer of {@code release}. */
    private boolean about(SettledVote vote, long release) {
        return vote.modelVersion() != null && vote.modelVersion() == release && vote.eventTime() >= since;
    }

    /** The verdict as published on model-releases. */
    public ModelRelease decision(String model, ReleaseDecision decision, long promoted, long now, String reason) {
        return ModelRelease.newBuilder().setModelId(model).setVersion(version).setDecision(decision).setPromotedVersion(promoted)
                .setCandidateVotes(candidateVotes).setCandidateUp(candidateUp).setPromotedVotes(promotedVotes).setPromotedUp(promotedUp)
                .setDecidedAt(Instant.ofEpochMilli(now)).setReason(reason).build();
    }

    /** The two arms in words, for a decision's reason. */
    public String figures(long promoted) {
        return String.format(java.util.Locale.ROOT, "v%d %d/%d up (%.1f%%) against v%d %d/%d up (%.1f%%)", version, candidateUp, candidateVotes,
                share(candidateUp, candidateVotes), promoted, promotedUp, promotedVotes, share(promotedUp, promotedVotes));
    }

    private static double share(long up, long votes) {
        return votes == 0 ? 0 : 100.0 * up / votes;
    }
}
