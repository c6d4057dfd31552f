package dev.kaizen.operators.canary;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import dev.kaizen.operators.canary.CanaryRule.Verdict;

/**
 * The canary rule alone, on simulated canaries: votes fall on the candidate with the canary
 * fraction's probability, else on the promoted release, each up with its release's true rate.
 */
class CanaryRuleTest {

    static final int CANARIES = 2000;
    static final double FRACTION = 0.1;
    /** The demo's promoted thumbs-up rate once it has learned. */
    static final double RATE = 0.9;
    static final CanaryRule RULE = new CanaryRule(200, 200, 400, 0.1, 0.02);

    static double rolledBack(CanaryRule rule, double promotedRate, double candidateRate, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int rollbacks = 0;
        for (int c = 0; c < CANARIES; c++) {
            long candidateUp = 0;
            long candidateVotes = 0;
            long promotedUp = 0;
            long promotedVotes = 0;
            Verdict verdict = Verdict.WAIT;
            while (verdict == Verdict.WAIT) {
                if (random.nextDouble() < FRACTION) {
                    candidateVotes++;
                    candidateUp += random.nextDouble() < candidateRate ? 1 : 0;
                    verdict = rule.judge(candidateUp, candidateVotes, promotedUp, promotedVotes);
                } else {
                    promotedVotes++;
                    promotedUp += random.nextDouble() < promotedRate ? 1 : 0;
                }
            }
            rollbacks += verdict == Verdict.ROLLBACK ? 1 : 0;
        }
        return (double) rollbacks / CANARIES;
    }

    @Test
    void aReleaseAsGoodAsThePromotedOneIsRolledBackAtMostAtTheErrorRateAndOneFivePointsWorseNineTimesInTen() {
        double wrong = rolledBack(RULE, RATE, RATE, 1);
        double caught = rolledBack(RULE, RATE, RATE - 0.05, 2);
        System.out.printf("canary rule, %d canaries, promoted at %.0f%%, alpha %.2f, %d votes at most: equal rates rolled back %.1f%%, "
                + "5 points worse rolled back %.1f%%%n", CANARIES, 100 * RATE, RULE.alpha(), RULE.maxVotes(), 100 * wrong, 100 * caught);
        // The bound over the looks is conservative: at most alpha, plus the simulation's own noise (3 standard errors).
        assertThat(wrong).isBetween(RULE.alpha() / 2, RULE.alpha() + 3 * Math.sqrt(RULE.alpha() * (1 - RULE.alpha()) / CANARIES));
        assertThat(caught).isGreaterThanOrEqualTo(0.9);
    }

    @Test
    void itLooksOnlyAtTheMinimumAndEveryLookAfterAndAlwaysDecidesAtTheMaximum() {
        CanaryRule rule = new CanaryRule(200, 100, 450, 0.05, 0.02);
        assertThat(rule.judge(0, 199, 0, 5000)).as("all down, before the first look").isEqualTo(Verdict.WAIT);
        assertThat(rule.judge(0, 200, 4500, 5000)).as("all down at the first look").isEqualTo(Verdict.ROLLBACK);
        assertThat(rule.judge(0, 201, 4500, 5000)).as("between looks").isEqualTo(Verdict.WAIT);
        assertThat(rule.judge(200, 200, 2500, 5000)).as("all up: not worse by the margin").isEqualTo(Verdict.PROMOTE);
        assertThat(rule.judge(270, 300, 4500, 5000)).as("as good, at a look before the last").isEqualTo(Verdict.WAIT);
        assertThat(rule.judge(405, 450, 4500, 5000)).as("as good, at the last look (not a multiple)").isEqualTo(Verdict.PROMOTE);
        assertThat(rule.judge(380, 450, 4500, 5000)).as("5 points worse at the last look").isEqualTo(Verdict.ROLLBACK);
    }

    @Test
    void withoutVotesOnThePromotedReleaseItWaitsAndAtTheMaximumKeepsThePromotedRelease() {
        assertThat(RULE.judge(200, 200, 0, 199)).isEqualTo(Verdict.WAIT);
        assertThat(RULE.judge(400, 400, 0, 199)).isEqualTo(Verdict.ROLLBACK);
    }

    @Test
    void theErrorRateIsSpentByTheLastLookAlmostAllOfItThere() {
        CanaryRule rule = new CanaryRule(200, 100, 400, 0.05, 0.02);
        assertThat(rule.spent(0)).isZero();
        assertThat(rule.spent(400)).isCloseTo(0.05, within(1e-12));
        // O'Brien–Fleming at half the votes: 2 - 2 Φ(1.95996 / √0.5) = 0.005574.
        assertThat(rule.spent(200)).isCloseTo(0.005574, within(1e-5));
    }

    @Test
    void settingsOutsideTheirRangesAreRefused() {
        assertThatThrownBy(() -> new CanaryRule(0, 100, 400, 0.05, 0.02)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new CanaryRule(500, 100, 400, 0.05, 0.02)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new CanaryRule(200, 0, 400, 0.05, 0.02)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new CanaryRule(200, 100, 400, 0.5, 0.02)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new CanaryRule(200, 100, 400, 0.05, -0.01)).isInstanceOf(IllegalArgumentException.class);
    }
}
