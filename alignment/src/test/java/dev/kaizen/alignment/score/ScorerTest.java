package dev.kaizen.alignment.score;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.kaizen.alignment.TestModels;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.NoGrad;

class ScorerTest {

    static LlamaForCausalLM model;

    @BeforeAll
    static void load() {
        model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static final int[] LONG = {5, 80, 31, 200, 7, 64, 99, 12, 150, 3};
    private static final int[] SHORT = {17, 42, 9, 300};

    @Test
    void logprobsAreTheLogSoftmaxOfTheNextToken() {
        Scorer.Scored scored = Scorer.score(model, List.of(new Scorer.Sequence(LONG, 1))).get(0);
        assertThat(scored.logprobs()).hasSize(LONG.length - 1);
        try (NDScope scope = new NDScope(); NDManager m = model.manager().newSubManager()) {
            NDArray logits = model.forward(m.create(new long[][] {java.util.Arrays.stream(LONG).asLongStream().toArray()}), null, null);
            for (int i = 1; i < LONG.length; i++) {
                float[] row = logits.get("0, " + (i - 1) + ", :").toFloatArray();
                double max = Double.NEGATIVE_INFINITY;
                for (float v : row) {
                    max = Math.max(max, v);
                }
                double sum = 0;
                for (float v : row) {
                    sum += Math.exp(v - max);
                }
                double expected = row[LONG[i]] - max - Math.log(sum);
                assertThat((double) scored.logprobs()[i - 1]).isCloseTo(expected, within(1e-5));
            }
        }
    }

    @Test
    void completionSumsTakeTheHeadOnlyWhereAnAnswerTokenIsPredictedAndAgreeWithTheFullScore() {
        // The last row has no completion token at all: its sum is 0.
        List<Scorer.Sequence> seqs = List.of(new Scorer.Sequence(LONG, 4), new Scorer.Sequence(SHORT, 2), new Scorer.Sequence(SHORT, 4));
        List<Scorer.Scored> full = Scorer.score(model, seqs);
        try (NDScope scope = new NDScope(); NDManager m = model.manager().newSubManager()) {
            NDArray sums = PaddedBatch.of(seqs).completionSums(model, m);
            assertThat(sums.getShape().getShape()).containsExactly(3);
            for (int b = 0; b < seqs.size(); b++) {
                assertThat((double) sums.getFloat(b)).isCloseTo(full.get(b).completionSum(), within(1e-4));
            }
            assertThat(sums.getFloat(2)).isZero();
            assertThat(PaddedBatch.of(seqs).completionHidden(model, m).getShape().getShape())
                    .containsExactly(LONG.length - 4 + SHORT.length - 2, model.config().hiddenSize());
        }
    }

    @Test
    void answersSharingAPromptScoreInOneRowAsEachDoesAlone() {
        int[] prompt = {5, 80, 31, 200, 7};
        int[] otherPrompt = {17, 42};
        List<Scorer.Sequence> first = List.of(sequence(prompt, 64, 99, 12), sequence(otherPrompt, 9, 300, 150, 3), sequence(prompt));
        List<Scorer.Sequence> second = List.of(sequence(prompt, 150), sequence(otherPrompt, 64, 12), sequence(prompt, 99, 3));
        SharedPromptBatch shared = SharedPromptBatch.of(first, second);
        assertThat(shared).isNotNull();
        try (NDScope scope = new NDScope(); NDManager m = model.manager().newSubManager()) {
            float[] sums = shared.completionSums(model, m).toFloatArray();
            float[] alone = PaddedBatch.of(first).completionSums(model, m).toFloatArray();
            float[] secondAlone = PaddedBatch.of(second).completionSums(model, m).toFloatArray();
            assertThat(sums).hasSize(6);
            for (int b = 0; b < 3; b++) {
                assertThat(sums[b]).as("first %d", b).isCloseTo(alone[b], within(1e-4f));
                assertThat(sums[3 + b]).as("second %d", b).isCloseTo(secondAlone[b], within(1e-4f));
            }
            assertThat(sums[2]).isZero();
        }
        // Prompts that differ (a long answer cut its own), or answers so much longer than their prompt that sharing it saves little, are not shared.
        assertThat(SharedPromptBatch.of(List.of(sequence(prompt, 64)), List.of(sequence(otherPrompt, 64)))).isNull();
        int[] longAnswer = new int[40];
        java.util.Arrays.fill(longAnswer, 12);
        assertThat(SharedPromptBatch.of(List.of(sequence(otherPrompt, longAnswer)), List.of(sequence(otherPrompt, longAnswer)))).isNull();
    }

    private static Scorer.Sequence sequence(int[] prompt, int... completion) {
        int[] ids = java.util.Arrays.copyOf(prompt, prompt.length + completion.length);
        System.arraycopy(completion, 0, ids, prompt.length, completion.length);
        return new Scorer.Sequence(ids, prompt.length);
    }

    @Test
    void withoutGradientsTheHeadRunsInChunksThatGiveTheSameLogProbs() {
        int vocab = model.config().vocabSize();
        try (NoGrad noGrad = NoGrad.enter(); NDScope scope = new NDScope(); NDManager m = model.manager().newSubManager()) {
            NDArray hidden = m.randomNormal(new Shape(7, model.config().hiddenSize()));
            NDArray targets = m.create(new long[] {0, 5, 17, 42, 9, 300, vocab - 1});
            float[] whole = TokenLogProbs.atPositions(model, hidden, targets, 7L * vocab).toFloatArray();
            float[] chunked = TokenLogProbs.atPositions(model, hidden, targets, 2L * vocab).toFloatArray();
            assertThat(chunked).hasSize(7).containsExactly(whole, within(1e-5f));
        }
    }

    @Test
    void theCompletionSumCoversOnlyCompletionTokens() {
        Scorer.Scored all = Scorer.score(model, List.of(new Scorer.Sequence(LONG, 1))).get(0);
        Scorer.Scored tail = Scorer.score(model, List.of(new Scorer.Sequence(LONG, 6))).get(0);
        double expected = 0;
        for (int i = 6; i < LONG.length; i++) {
            expected += all.logprobs()[i - 1];
        }
        assertThat(tail.completionSum()).isCloseTo(expected, within(1e-5));
        double whole = 0;
        for (float v : all.logprobs()) {
            whole += v;
        }
        assertThat(all.completionSum()).isCloseTo(whole, within(1e-5));
    }

    @Test
    void aPaddedBatchScoresEachSequenceAsAlone() {
        List<Scorer.Scored> batch = Scorer.score(model, List.of(new Scorer.Sequence(LONG, 4), new Scorer.Sequence(SHORT, 2)));
        Scorer.Scored longAlone = Scorer.score(model, List.of(new Scorer.Sequence(LONG, 4))).get(0);
        Scorer.Scored shortAlone = Scorer.score(model, List.of(new Scorer.Sequence(SHORT, 2))).get(0);
        assertThat(batch.get(1).logprobs()).hasSize(SHORT.length - 1);
        for (int i = 0; i < SHORT.length - 1; i++) {
            assertThat(batch.get(1).logprobs()[i]).isCloseTo(shortAlone.logprobs()[i], within(1e-5f));
        }
        assertThat(batch.get(0).completionSum()).isCloseTo(longAlone.completionSum(), within(1e-4));
        assertThat(batch.get(1).completionSum()).isCloseTo(shortAlone.completionSum(), within(1e-4));
    }

    @Test
    void aSequenceTooShortToScoreIsRefused() {
        assertThatThrownBy(() -> new Scorer.Sequence(new int[] {5}, 1)).hasMessageContaining("at least 2 ids");
        assertThatThrownBy(() -> new Scorer.Sequence(LONG, 0)).hasMessageContaining("completion_start");
    }
}
