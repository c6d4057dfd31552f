package dev.kaizen.operators.settle;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.List;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;

import dev.kaizen.operators.deadletter.DeadLetters;
import dev.kaizen.operators.validate.ValidateRecords;
import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.OriginalForm;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.Vote;

class SettleVotesTest {

    private static final long T0 = Instant.parse("2026-11-24T12:00:00Z").toEpochMilli();
    private static final SettleConfig CONFIG = new SettleConfig(Duration.ofSeconds(10), Duration.ofSeconds(60), Duration.ofSeconds(120));
    private static final List<ChatMessage> PROMPT = List.of(new ChatMessage("user", "What is Kafka?"));

    private static KeyedTwoInputStreamOperatorTestHarness<String, FeedbackEvent, ResponseLogged, SettledVote> harness() throws Exception {
        var h = ProcessFunctionTestHarnesses.forKeyedCoProcessFunction(new SettleVotes(CONFIG, new DeadLetters("votes-eu", "model-commands")),
                FeedbackEvent::getResponseId, ResponseLogged::getResponseId, Types.STRING);
        h.open();
        return h;
    }

    private static FeedbackEvent vote(String id, String response, String user, Vote vote, long at) {
        return FeedbackEvent.newBuilder().setEventId(id).setResponseId(response).setUserId(user).setModelId("tiny")
                .setVote(vote).setEventTime(Instant.ofEpochMilli(at)).setPrompt(null).setCompletion(null).setAttributes(null).build();
    }

    private static ResponseLogged answer(String response, long at) {
        return ResponseLogged.newBuilder().setResponseId(response).setModelId("tiny").setModelVersion(1)
                .setPrompt(PROMPT).setCompletion("A log.").setCreatedAt(Instant.ofEpochMilli(at)).build();
    }

    private static void vote(KeyedTwoInputStreamOperatorTestHarness<String, FeedbackEvent, ResponseLogged, SettledVote> h,
                             FeedbackEvent v) throws Exception {
        h.processElement1(new StreamRecord<>(v, v.getEventTime().toEpochMilli()));
    }

    @Test
    void theLastVoteWinsOnceTheWatermarkPassesItsLateness() throws Exception {
        try (var h = harness()) {
            h.processElement2(new StreamRecord<>(answer("r1", T0), T0));
            vote(h, vote("e1", "r1", "alice", Vote.UP, T0 + 1_000));
            vote(h, vote("e1", "r1", "alice", Vote.UP, T0 + 1_000));          // a redelivery
            vote(h, vote("e2", "r1", "alice", Vote.DOWN, T0 + 3_000));        // she changed her mind
            vote(h, vote("e3", "r1", "bob", Vote.UP, T0 + 2_000));
            vote(h, vote("e4", "r1", "bob", Vote.CLEAR, T0 + 4_000));         // and he withdrew his
            h.processBothWatermarks(new Watermark(T0 + 12_000));
            assertThat(h.extractOutputValues()).as("not final before time + lateness").isEmpty();
            h.processBothWatermarks(new Watermark(T0 + 14_000));
            assertThat(h.extractOutputValues()).containsExactly(
                    new SettledVote("tiny", "r1", "alice", "e2", T0 + 3_000, false, PROMPT, "A log.", 1L, 0L));
        }
    }

    @Test
    void aVoteWaitsForItsAnswerThenJoinsIt() throws Exception {
        try (var h = harness()) {
            vote(h, vote("e1", "r2", "carol", Vote.UP, T0));
            h.processBothWatermarks(new Watermark(T0 + 30_000));
            assertThat(h.extractOutputValues()).isEmpty();
            h.setProcessingTime(T0 + 45_000);
            h.processElement2(new StreamRecord<>(answer("r2", T0 + 31_000), T0 + 31_000));
            // Settled when its answer came, by the operator's clock: where the update stage's settled-to-trained latency starts.
            assertThat(h.extractOutputValues()).extracting(SettledVote::userId, SettledVote::desirable, SettledVote::completion, SettledVote::settledAt)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple("carol", true, "A log.", T0 + 45_000));
            h.processBothWatermarks(new Watermark(T0 + 100_000));
            assertThat(h.getSideOutput(DeadLetters.TAG)).as("joined, it no longer waits for its answer").isNull();
            assertThat(h.extractOutputValues()).hasSize(1);
        }
    }

    @Test
    void inlineTextNeedsNoAnswer() throws Exception {
        try (var h = harness()) {
            FeedbackEvent withText = vote("e1", "r3", "dan", Vote.UP, T0);
            withText.setPrompt(PROMPT);
            withText.setCompletion("Inline.");
            vote(h, withText);
            h.processBothWatermarks(new Watermark(T0 + 10_000));
            assertThat(h.extractOutputValues()).extracting(SettledVote::completion).containsExactly("Inline.");
        }
    }

    @Test
    void aVoteWhoseAnswerNeverComesIsDeadLettered() throws Exception {
        try (var h = harness()) {
            vote(h, vote("e1", "r4", "erin", Vote.DOWN, T0));
            h.processBothWatermarks(new Watermark(T0 + 69_999));
            assertThat(h.getSideOutput(DeadLetters.TAG)).isNull();
            h.processBothWatermarks(new Watermark(T0 + 70_000));
            List<DeadLetter> dead = h.getSideOutput(DeadLetters.TAG).stream().map(StreamRecord::getValue).toList();
            assertThat(dead).extracting(DeadLetter::getReason).containsExactly("unknown-response");
            assertThat(dead).extracting(DeadLetter::getOriginalForm).containsExactly(OriginalForm.SETTLED_VOTE);
            assertThat(dead.get(0).getDetail()).contains("r4");
            assertThat(dead.get(0).getSourceTopic()).isEqualTo("votes-eu");  // the configured topic
            assertThat(h.extractOutputValues()).isEmpty();
        }
    }

    @Test
    void votesAfterTheDecisionAreLate() throws Exception {
        try (var h = harness()) {
            h.processElement2(new StreamRecord<>(answer("r5", T0), T0));
            vote(h, vote("e1", "r5", "fay", Vote.UP, T0));
            h.processBothWatermarks(new Watermark(T0 + 20_000));
            vote(h, vote("e2", "r5", "fay", Vote.DOWN, T0 + 15_000));         // after her decision was final
            vote(h, vote("e3", "r5", "gus", Vote.UP, T0 + 5_000));            // too old to be counted
            assertThat(h.getSideOutput(SettleVotes.LATE)).extracting(r -> r.getValue().getEventId()).containsExactly("e2", "e3");
            assertThat(h.extractOutputValues()).extracting(SettledVote::eventId).containsExactly("e1");
        }
    }

    @Test
    void stateExpiresAfterRetentionAndNoTimerIsLeft() throws Exception {
        try (var h = harness()) {
            h.setStateTtlProcessingTime(0);
            h.processElement2(new StreamRecord<>(answer("r6", T0), T0));
            vote(h, vote("e1", "r6", "hal", Vote.UP, T0));
            vote(h, vote("e2", "r6", "ivy", Vote.DOWN, T0 + 1_000));
            h.processBothWatermarks(new Watermark(T0 + 20_000));
            assertThat(h.extractOutputValues()).hasSize(2);
            assertThat(h.numEventTimeTimers()).isZero();
            vote(h, vote("e1", "r6", "hal", Vote.UP, T0));
            assertThat(h.getSideOutput(SettleVotes.LATE)).as("remembered: a duplicate, not a late vote").isNull();

            h.setStateTtlProcessingTime(CONFIG.retention().toMillis() + 1);
            vote(h, vote("e3", "r6", "hal", Vote.DOWN, T0 + 15_000));
            h.processBothWatermarks(new Watermark(T0 + 30_000));
            assertThat(h.getSideOutput(SettleVotes.LATE)).as("hal's decision is forgotten").isNull();
            assertThat(h.extractOutputValues()).as("and so is the answer: e3 waits for its text").hasSize(2);
            assertThat(h.numEventTimeTimers()).as("its wait for the answer").isEqualTo(1);
        }
    }

    @Test
    void aBurstOfVotesSettlesInOneWakeUp() throws Exception {
        try (var h = harness()) {
            h.processElement2(new StreamRecord<>(answer("r7", T0), T0));
            assertThat(h.numEventTimeTimers()).as("an answer alone needs no timer").isZero();
            for (int i = 0; i < 4; i++) {
                vote(h, vote("e" + i, "r7", "user" + i, Vote.UP, T0 + 100 + i));
            }
            assertThat(h.numEventTimeTimers()).as("one wake-up for the whole burst").isEqualTo(1);
            h.processBothWatermarks(new Watermark(T0 + 11_000));
            assertThat(h.extractOutputValues()).hasSize(4);
            vote(h, vote("e9", "r7", "user0", Vote.DOWN, T0 + 10_500));   // final already: her vote is decided
            assertThat(h.getSideOutput(SettleVotes.LATE)).extracting(r -> r.getValue().getEventId()).containsExactly("e9");
        }
    }

    @Test
    void aVoteWhoseDeadlinePassedIsFinalBeforeItsWakeUpFires() throws Exception {
        try (var h = harness()) {
            h.processElement2(new StreamRecord<>(answer("r8", T0), T0));
            vote(h, vote("e1", "r8", "jo", Vote.UP, T0 + 101));               // final at T0 + 10.101 s, wakes at T0 + 10.2 s
            h.processBothWatermarks(new Watermark(T0 + 10_101));
            assertThat(h.extractOutputValues()).as("its wake-up has not fired").isEmpty();
            vote(h, vote("e2", "r8", "jo", Vote.DOWN, T0 + 5_000));           // within its own lateness, but jo's vote is final
            h.processBothWatermarks(new Watermark(T0 + 10_200));
            assertThat(h.getSideOutput(SettleVotes.LATE)).extracting(r -> r.getValue().getEventId()).containsExactly("e2");
            assertThat(h.extractOutputValues()).extracting(SettledVote::eventId, SettledVote::desirable)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple("e1", true));
        }
    }

    /** A vote whose own deadline the watermark has reached is final on arrival: late. */
    @Test
    void aVoteArrivingAtItsOwnDeadlineIsLate() throws Exception {
        try (var h = harness()) {
            h.processElement2(new StreamRecord<>(answer("r9", T0), T0));
            h.processBothWatermarks(new Watermark(T0 + 20_000));
            vote(h, vote("e1", "r9", "kim", Vote.UP, T0 + 10_000));
            vote(h, vote("e2", "r9", "lee", Vote.UP, T0 + 10_001));
            assertThat(h.getSideOutput(SettleVotes.LATE)).extracting(r -> r.getValue().getEventId()).containsExactly("e1");
            h.processBothWatermarks(new Watermark(T0 + 20_100));
            assertThat(h.extractOutputValues()).extracting(SettledVote::eventId).containsExactly("e2");
        }
    }

    /** Votes of the same time are ordered by event id, whichever arrived first, so a replay settles the same way. */
    @Test
    void equalTimesAreBrokenByEventIdWhateverTheOrderOfArrival() throws Exception {
        for (List<String> order : List.of(List.of("e1", "e2"), List.of("e2", "e1"))) {
            try (var h = harness()) {
                h.processElement2(new StreamRecord<>(answer("r10", T0), T0));
                for (String id : order) {
                    vote(h, vote(id, "r10", "max", id.equals("e2") ? Vote.DOWN : Vote.UP, T0));
                }
                h.processBothWatermarks(new Watermark(T0 + 10_000));
                assertThat(h.extractOutputValues()).as("arrived %s", order).extracting(SettledVote::eventId).containsExactly("e2");
            }
        }
    }

    /** A wake-up that fires exactly at the watermark makes the next one for the votes still pending. */
    @Test
    void votesStillPendingAfterAWakeUpAtTheWatermarkGetTheirOwn() throws Exception {
        try (var h = harness()) {
            h.processElement2(new StreamRecord<>(answer("r11", T0), T0));
            vote(h, vote("e1", "r11", "ned", Vote.UP, T0));
            vote(h, vote("e2", "r11", "oli", Vote.DOWN, T0 + 5_000));
            h.processBothWatermarks(new Watermark(T0 + 10_000));
            assertThat(h.extractOutputValues()).extracting(SettledVote::eventId).containsExactly("e1");
            h.processBothWatermarks(new Watermark(T0 + 15_000));
            assertThat(h.extractOutputValues()).extracting(SettledVote::eventId).containsExactly("e1", "e2");
        }
    }

    /**
     * Votes keep a response's ballot alive, but its answer is dropped a retention after it was
     * written: a vote that then needs the answer waits for it as for one never seen, and is
     * dead-lettered, replayable, instead of failing the job.
     */
    @Test
    void aVoteOutlivingItsAnswersRetentionIsDeadLettered() throws Exception {
        try (var h = harness()) {
            h.setStateTtlProcessingTime(0);
            h.processElement2(new StreamRecord<>(answer("r12", T0), T0));
            long later = T0 + CONFIG.retention().toMillis();
            h.setStateTtlProcessingTime(CONFIG.retention().toMillis() - 1);
            vote(h, vote("e1", "r12", "pat", Vote.UP, later));
            h.setStateTtlProcessingTime(CONFIG.retention().toMillis() + 1);
            h.processBothWatermarks(new Watermark(later + CONFIG.horizon().toMillis()));
            assertThat(h.extractOutputValues()).isEmpty();
            assertThat(h.getSideOutput(DeadLetters.TAG)).extracting(r -> r.getValue().getReason()).containsExactly("unknown-response");
        }
    }

    @Test
    void aSettledVoteBecomesAFeedbackEventWithItsTextInline() {
        FeedbackEvent down = new SettledVote("tiny", "r1", "ann", "e1", T0, false, PROMPT, "A log.", null, 0L).toFeedbackEvent();
        assertThat(down).isEqualTo(FeedbackEvent.newBuilder(vote("e1", "r1", "ann", Vote.DOWN, T0)).setPrompt(PROMPT).setCompletion("A log.").build());
        assertThat(new SettledVote("tiny", "r1", "ann", "e1", T0, true, PROMPT, "A log.", null, 0L).toFeedbackEvent().getVote()).isEqualTo(Vote.UP);
    }
}
