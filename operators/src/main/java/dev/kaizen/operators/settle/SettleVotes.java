package dev.kaizen.operators.settle;

import java.time.Instant;
import java.util.List;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import dev.kaizen.operators.deadletter.DeadLetters;
import dev.kaizen.operators.metrics.Latency;
import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.DeadLetterReason;

/**
 * Dedup, join and settle, fused because all three are per response (keyed by response_id):
 * duplicates of an event id are dropped; per user the vote with the latest event time wins and
 * CLEAR withdraws it; the decision is final once the watermark passes its time plus the allowed
 * lateness, and votes after that leave on {@link #LATE}; a final vote is joined with its answer's
 * text (or uses the text it carries) and emitted, or dead-lettered as {@code unknown-response}
 * when no text arrives in time. A response's state expires {@code retention} after its last
 * write (Flink's state TTL, in processing time), so an answer that never gets a vote costs no timer.
 */
public final class SettleVotes extends KeyedCoProcessFunction<String, FeedbackEvent, ResponseLogged, SettledVote> {

    public static final OutputTag<FeedbackEvent> LATE = new OutputTag<>("late-votes", TypeInformation.of(FeedbackEvent.class));

    /** Settling wake-ups are rounded up to this, so the votes of a burst settle together. */
    private static final long SETTLE_GRANULARITY = 100;

    private final SettleConfig config;
    private final DeadLetters deadLetters;

    private transient ValueState<Ballot> ballot;
    private transient ValueState<ResponseLogged> response;
    private transient Counter duplicates;
    private transient Counter late;
    private transient Counter settled;
    private transient Counter unknownResponse;
    private transient Histogram feedbackToSettled;

    public SettleVotes(SettleConfig config, DeadLetters deadLetters) {
        this.config = config;
        this.deadLetters = deadLetters;
    }

    @Override
    public void open(OpenContext context) {
        var state = getRuntimeContext();
        StateTtlConfig ttl = StateTtlConfig.newBuilder(config.retention()).setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired).build();
        var ballots = new ValueStateDescriptor<>("ballot", TypeInformation.of(Ballot.class));
        ballots.enableTimeToLive(ttl);
        ballot = state.getState(ballots);
        var responses = new ValueStateDescriptor<>("response", TypeInformation.of(ResponseLogged.class));
        responses.enableTimeToLive(ttl);
        response = state.getState(responses);
        var metrics = getRuntimeContext().getMetricGroup();
        duplicates = metrics.counter("duplicates");
        late = metrics.counter("late");
        settled = metrics.counter("settled");
        unknownResponse = metrics.counter("unknown-response");
        // From the vote's event time (the client's clock) to the moment it settles.
        feedbackToSettled = Latency.register(metrics, "feedbackToSettledMs");
    }

    @Override
    public void processElement1(FeedbackEvent vote, Context ctx, Collector<SettledVote> out) throws Exception {
        Ballot b = orNew(ballot.value());
        if (b.seen.contains(vote.getEventId())) {
            duplicates.inc();
            return;
        }
        b.seen.add(vote.getEventId());
        long watermark = ctx.timerService().currentWatermark();
        PendingVote current = b.pending.stream().filter(v -> v.userId.equals(vote.getUserId())).findFirst().orElse(null);
        long time = vote.getEventTime().toEpochMilli();
        // A pending vote whose deadline the watermark has passed is final, though its wake-up may not have fired yet.
        if (b.decided.contains(vote.getUserId()) || deadline(time) <= watermark || (current != null && deadline(current.eventTime) <= watermark)) {
            late.inc();
            ctx.output(LATE, vote);
        } else if (current == null || later(time, vote.getEventId(), current.eventTime, current.eventId)) {
            b.pending.remove(current);
            b.pending.add(PendingVote.of(vote));
        }
        store(b, ctx);
    }

    @Override
    public void processElement2(ResponseLogged answer, Context ctx, Collector<SettledVote> out) throws Exception {
        Ballot b = orNew(ballot.value());
        if (b.answered) {
            return;  // a redelivered answer: the first one stands
        }
        b.answered = true;
        response.update(answer);
        for (PendingVote vote : b.awaitingText) {
            emit(ctx, ctx.getCurrentKey(), vote, answer.getPrompt(), answer.getCompletion(), answer.getModelVersion(), out);
        }
        b.awaitingText.clear();
        store(b, ctx);
    }

    /** Settles every vote final at {@code timestamp} and dead-letters final votes whose answer never came. */
    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<SettledVote> out) throws Exception {
        Ballot b = ballot.value();
        if (b == null) {
            return;  // expired: see the retention in SettleConfig
        }
        String responseId = ctx.getCurrentKey();
        List<PendingVote> due = b.pending.stream().filter(v -> deadline(v.eventTime) <= timestamp).toList();
        b.pending.removeAll(due);
        ResponseLogged answer = null;
        for (PendingVote vote : due) {
            b.decided.add(vote.userId);
            if (vote.vote == Vote.CLEAR) {
                continue;
            }
            if (vote.prompt != null) {
                emit(ctx, responseId, vote, vote.prompt, vote.completion, null, out);
                continue;
            }
            if (b.answered && answer == null) {
                answer = response.value();
                // Later votes kept the ballot alive past the answer's retention: as good as never seen.
                b.answered = answer != null;
            }
            if (b.answered) {
                emit(ctx, responseId, vote, answer.getPrompt(), answer.getCompletion(), answer.getModelVersion(), out);
            } else {
                b.awaitingText.add(vote);
            }
        }
        List<PendingVote> expired = b.awaitingText.stream().filter(v -> expiry(v.eventTime) <= timestamp).toList();
        for (PendingVote vote : expired) {
            unknownResponse.inc();
            ctx.output(DeadLetters.TAG, deadLetters.settledVote(vote.toFeedbackEvent(responseId),
                    new DeadLetterReason.UnknownResponse(responseId, config.responseWait()), Instant.now()));
        }
        b.awaitingText.removeAll(expired);
        store(b, ctx);
    }

    /**
     * Writes the ballot back and makes sure a timer is registered for its next wake-up. Timers
     * that an earlier wake-up superseded are not deleted: they fire, find nothing due and do
     * nothing, which is cheaper than deleting them from RocksDB.
     */
    private void store(Ballot b, Context ctx) throws Exception {
        long next = Ballot.NONE;
        for (PendingVote vote : b.pending) {
            next = Math.min(next, roundUp(deadline(vote.eventTime), SETTLE_GRANULARITY));
        }
        for (PendingVote vote : b.awaitingText) {
            next = Math.min(next, roundUp(expiry(vote.eventTime), SETTLE_GRANULARITY));
        }
        // Timers fire in order, so a wake-up at or before the current time has fired.
        if (next < b.wakeAt || b.wakeAt <= ctx.timerService().currentWatermark()) {
            if (next != Ballot.NONE) {
                ctx.timerService().registerEventTimeTimer(next);
            }
            b.wakeAt = next;
        }
        ballot.update(b);
    }

    private void emit(Context ctx, String responseId, PendingVote vote, List<ChatMessage> prompt, String completion, Long version,
                      Collector<SettledVote> out) {
        settled.inc();
        long now = ctx.timerService().currentProcessingTime();
        feedbackToSettled.update(now - vote.eventTime);
        out.collect(new SettledVote(vote.modelId, responseId, vote.userId, vote.eventId, vote.eventTime, vote.vote == Vote.UP,
                List.copyOf(prompt), completion, version, now));
    }

    /** When a vote cast at {@code eventTime} becomes final. */
    private long deadline(long eventTime) {
        return eventTime + config.lateness().toMillis();
    }

    /** When a final vote cast at {@code eventTime} stops waiting for its answer's text. */
    private long expiry(long eventTime) {
        return deadline(eventTime) + config.responseWait().toMillis();
    }

    private static long roundUp(long time, long granularity) {
        return Math.floorDiv(time + granularity - 1, granularity) * granularity;
    }

    private static Ballot orNew(Ballot b) {
        return b == null ? new Ballot() : b;
    }

    /** Later event time wins; equal times are broken by event id, so replays decide the same way. */
    public static boolean later(FeedbackEvent a, FeedbackEvent b) {
        return later(a.getEventTime().toEpochMilli(), a.getEventId(), b.getEventTime().toEpochMilli(), b.getEventId());
    }

    private static boolean later(long timeA, String idA, long timeB, String idB) {
        return timeA > timeB || (timeA == timeB && idA.compareTo(idB) > 0);
    }
}
