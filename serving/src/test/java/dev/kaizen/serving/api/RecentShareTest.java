package dev.kaizen.serving.api;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class RecentShareTest {

    @Test
    void theRateIsOverTheLatestWindowAndTheFirstWindowIsKept() {
        RecentShare votes = new RecentShare();
        assertThat(votes.rate()).isNaN();
        for (int i = 0; i < RecentShare.WINDOW; i++) {
            votes.add(i % 4 == 0);  // a quarter up
        }
        assertThat(votes.initialRate()).isEqualTo(0.25);
        for (int i = 0; i < RecentShare.WINDOW; i++) {
            votes.add(i % 4 != 0);  // then three quarters up
        }
        assertThat(votes.rate()).isEqualTo(0.75);
        assertThat(votes.initialRate()).isEqualTo(0.25);
        assertThat(votes.count()).isEqualTo(2L * RecentShare.WINDOW);
    }
}
