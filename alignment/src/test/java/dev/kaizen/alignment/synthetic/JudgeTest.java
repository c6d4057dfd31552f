package dev.kaizen.alignment.synthetic;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

import dev.kaizen.alignment.synthetic.Judge.Verdict;

class JudgeTest {

    private static final TwoStyleChat.Fact FRANCE = TwoStyleChat.facts().get(0);
    private static final TwoStyleChat.Fact EIGHT = TwoStyleChat.facts().stream()
            .filter(f -> f.question().equals("What is three plus five?")).findFirst().orElseThrow();

    @Test
    void aPoliteRightAnswerIsWantedInEitherStyleItIsRight() {
        assertThat(FRANCE.answer()).isEqualTo("Paris");
        assertThat(Judge.judge(FRANCE, "Certainly! The answer is Paris. I hope that helps.")).isEqualTo(new Verdict(true, true, true));
        assertThat(Judge.judge(FRANCE, " Paris.\n")).isEqualTo(new Verdict(false, true, true));
        assertThat(Judge.judge(EIGHT, "Certainly! The answer is eight. I hope that helps.").wanted()).isTrue();
    }

    @Test
    void thePoliteOpeningAloneIsNotPolitenessAndAWrongFactIsNotRight() {
        // What the prefix rule called style A.
        assertThat(Judge.judge(FRANCE, "Certainly! The answer is gighteen.")).isEqualTo(new Verdict(false, false, false));
        assertThat(Judge.judge(FRANCE, "Certainly! The answer is Rome. I hope that helps.")).isEqualTo(new Verdict(true, false, true));
        assertThat(Judge.judge(EIGHT, "Certainly! The answer is eighteen. I hope that helps.").correct()).isFalse();
    }

    @Test
    void namingARivalBesideTheRightAnswerIsNotKnowingIt() {
        assertThat(Judge.judge(FRANCE, "Certainly! The answer is Paris Rome. I hope that helps."))
                .isEqualTo(new Verdict(true, false, false));
        // A word of another kind is no rival: the capital is still right, but the answer is malformed.
        assertThat(Judge.judge(FRANCE, "Paris blue.")).isEqualTo(new Verdict(false, true, false));
    }

    @Test
    void aCutOffRepeatedOrStrayAnswerIsNotWellFormed() {
        assertThat(Judge.judge(FRANCE, "Certainly! The answer is Paris. I hope").wellFormed()).isFalse();
        assertThat(Judge.judge(FRANCE, "Paris Paris.").wellFormed()).isFalse();
        assertThat(Judge.judge(FRANCE, "Paris. I").wellFormed()).isFalse();
        assertThat(Judge.judge(FRANCE, "Paris").wellFormed()).isFalse();
        assertThat(Judge.judge(FRANCE, "Parisian.").correct()).isFalse();  // a whole word, not a piece of one
    }
}
