package dev.kaizen.serving.api;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class VoteTallyTest {

    @Test
    void aChangedVoteMovesAClearedOneLeavesAndUnknownAnswersAreNotCounted() {
        VoteTally tally = new VoteTally(100);
        tally.answered("r1", 1);
        tally.answered("r2", 2);
        tally.vote("r1", "alice", true);
        tally.vote("r1", "bob", true);
        tally.vote("r1", "alice", false);       // alice changed her mind
        tally.vote("r2", "carol", true);
        tally.vote("r2", "carol", null);        // and carol withdrew hers
        tally.vote("r9", "dan", true);          // an answer given elsewhere
        assertThat(tally.rates()).containsExactly(new VoteTally.Rate(1, 1, 1), new VoteTally.Rate(2, 0, 0));
        assertThat(tally.rates().get(0).rate()).isEqualTo(0.5);
    }

    @Test
    void onlyTheLatestAnswersAreRemembered() {
        VoteTally tally = new VoteTally(2);
        tally.answered("r1", 1);
        tally.answered("r2", 1);
        tally.answered("r3", 1);
        tally.vote("r1", "alice", true);
        tally.vote("r3", "alice", true);
        assertThat(tally.rates()).containsExactly(new VoteTally.Rate(1, 1, 0));
    }
}
