package dev.kaizen.operators.cap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Clock;
import java.time.Instant;
import java.util.List;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;

import dev.kaizen.operators.MeteredHarness;
import dev.kaizen.operators.deadletter.DeadLetters;
import dev.kaizen.operators.settle.SettleConfig;
import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.operators.validate.ValidateRecords;
import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.OriginalForm;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;

class CapPerUserTest {

    private static final long HOUR0 = Instant.parse("2026-11-24T12:00:00Z").toEpochMilli();
    private static final SettleConfig SETTLE = SettleConfig.defaults();
    private static final long HORIZON = SETTLE.horizon().toMillis();

    private static SettledVote sample(String user, String event, long at) {
        return new SettledVote("tiny", "r-" + event, user, event, at, true, List.of(new ChatMessage("user", "Q?")), "A.", 1L, 0L);
    }

    @Test
    void atMostTheLimitPerUserAndHourPassesAndTheRestIsReplayable() throws Exception {
        try (var metered = new MeteredHarness<>(new CapPerUser(3, SETTLE.horizon(), new DeadLetters("votes-eu", "model-commands")), CapPerUser::key, Types.STRING)) {
            var h = metered.harness();
            for (int i = 0; i < 5; i++) {
                h.processElement(sample("mallory", "m" + i, HOUR0 + i * 1_000), HOUR0 + i * 1_000);
            }
            h.processElement(sample("alice", "a0", HOUR0 + 10_000), HOUR0 + 10_000);
            h.processElement(sample("mallory", "m5", HOUR0 + CapPerUser.HOUR + 5), HOUR0 + CapPerUser.HOUR + 5);  // a new hour

            assertThat(h.extractOutputValues()).extracting(SettledVote::eventId).containsExactly("m0", "m1", "m2", "a0", "m5");
            List<DeadLetter> dead = h.getSideOutput(DeadLetters.TAG).stream().map(StreamRecord::getValue).toList();
            assertThat(dead).extracting(DeadLetter::getReason).containsExactly("user-cap", "user-cap");
            assertThat(metered.count("capped")).isEqualTo(2);
            assertThat(dead).extracting(DeadLetter::getOriginalForm).containsOnly(OriginalForm.SETTLED_VOTE);
            assertThat(dead).extracting(DeadLetter::getSourceTopic).containsOnly("votes-eu");  // the configured topic
            Decoded<FeedbackEvent> replay = WireCodec.feedbackEvents(Clock.systemUTC()).decode(dead.get(0).getOriginal().array());
            assertThat(replay).isInstanceOfSatisfying(Decoded.Valid.class,
                    v -> assertThat(((FeedbackEvent) v.value()).getEventId()).isEqualTo("m3"));

            h.processWatermark(new Watermark(HOUR0 + 2 * CapPerUser.HOUR + HORIZON));
            assertThat(h.numKeyedStateEntries()).isZero();
            assertThat(h.numEventTimeTimers()).isZero();
        }
    }

    /**
     * Votes cast in an hour's last minutes settle only after the watermark has left the hour (the
     * settle lateness, then perhaps the wait for the answer's text): they still count against that
     * hour, however late within the settle horizon they arrive.
     */
    @Test
    void votesOfAnHoursLastMinutesCountAgainstThatHourWhenTheySettleAfterIt() throws Exception {
        long lastMinutes = HOUR0 + CapPerUser.HOUR - 60_000;
        try (var h = ProcessFunctionTestHarnesses.forKeyedProcessFunction(new CapPerUser(3, SETTLE.horizon(), new DeadLetters("chat-feedback", "model-commands")),
                CapPerUser::key, Types.STRING)) {
            for (int i = 0; i < 3; i++) {
                h.processElement(sample("mallory", "m" + i, lastMinutes + i * 1_000), lastMinutes + i * 1_000);
            }
            // The watermark leaves the hour; the hour's last votes settle as their lateness runs out ...
            h.processWatermark(new Watermark(lastMinutes + SETTLE.lateness().toMillis()));
            h.processElement(sample("mallory", "m3", lastMinutes + 5_000), lastMinutes + 5_000);
            // ... and one whose answer's text came only at the end of the response wait.
            h.processWatermark(new Watermark(HOUR0 + CapPerUser.HOUR + HORIZON - 1));
            h.processElement(sample("mallory", "m4", HOUR0 + CapPerUser.HOUR - 1), HOUR0 + CapPerUser.HOUR - 1);

            assertThat(h.extractOutputValues()).extracting(SettledVote::eventId).containsExactly("m0", "m1", "m2");
            assertThat(h.getSideOutput(DeadLetters.TAG)).hasSize(2);
            assertThat(h.numKeyedStateEntries()).isOne();
            h.processWatermark(new Watermark(HOUR0 + CapPerUser.HOUR + HORIZON));
            assertThat(h.numKeyedStateEntries()).isZero();
            assertThat(h.numEventTimeTimers()).isZero();
        }
    }

    /** A cap of one sample an hour is the least there is. */
    @Test
    void theLeastCapIsOneSampleAnHour() throws Exception {
        assertThatThrownBy(() -> new CapPerUser(0, SETTLE.horizon(), new DeadLetters("chat-feedback", "model-commands"))).hasMessageContaining("at least 1");
        try (var h = ProcessFunctionTestHarnesses.forKeyedProcessFunction(new CapPerUser(1, SETTLE.horizon(), new DeadLetters("chat-feedback", "model-commands")),
                CapPerUser::key, Types.STRING)) {
            h.processElement(sample("mallory", "m0", HOUR0), HOUR0);
            h.processElement(sample("mallory", "m1", HOUR0 + 1), HOUR0 + 1);
            assertThat(h.extractOutputValues()).extracting(SettledVote::eventId).containsExactly("m0");
        }
    }
}
