package dev.kaizen.operators.settle;

import java.time.Instant;
import java.util.List;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import dev.kaizen.operators.deadletter.DeadLetters;
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
        FeedbackEvent current = b.pending.stream().filter(v -> v.getUserId().equals(vote.getUserId())).findFirst().orElse(null);
        // A pending vote whose deadline the watermark has passed is final, though its wake-up may not have fired yet.
        if (b.decided.contains(vote.getUserId()) || deadline(vote) <= watermark || (current != null && deadline(current) <= watermark)) {
            late.inc();
            ctx.output(LATE, vote);
        } else if (current == null || later(vote, current)) {
            b.pending.remove(current);
            b.pending.add(vote);
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
        for (FeedbackEvent vote : b.awaitingText) {
            emit(vote, answer.getPrompt(), answer.getCompletion(), answer.getModelVersion(), out);
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
        List<FeedbackEvent> due = b.pending.stream().filter(v -> deadline(v) <= timestamp).toList();
        b.pending.removeAll(due);
        ResponseLogged answer = null;
        for (FeedbackEvent vote : due) {
            b.decided.add(vote.getUserId());
            if (vote.getVote() == Vote.CLEAR) {
                continue;
            }
            if (vote.getPrompt() != null) {
                emit(vote, vote.getPrompt(), vote.getCompletion(), null, out);
                continue;
            }
            if (b.answered && answer == null) {
                answer = response.value();
                // Later votes kept the ballot alive past the answer's retention: as good as never seen.
                b.answered = answer != null;
            }
            if (b.answered) {
                emit(vote, answer.getPrompt(), answer.getCompletion(), answer.getModelVersion(), out);
            } else {
                b.awaitingText.add(vote);
            }
        }
        List<FeedbackEvent> expired = b.awaitingText.stream().filter(v -> expiry(v) <= timestamp).toList();
        for (FeedbackEvent vote : expired) {
            unknownResponse.inc();
            ctx.output(DeadLetters.TAG, deadLetters.settledVote(vote, new DeadLetterReason.UnknownResponse(vote.getResponseId(), config.responseWait()), Instant.now()));
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
        for (FeedbackEvent vote : b.pending) {
            next = Math.min(next, roundUp(deadline(vote), SETTLE_GRANULARITY));
        }
        for (FeedbackEvent vote : b.awaitingText) {
            next = Math.min(next, roundUp(expiry(vote), SETTLE_GRANULARITY));
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

    private void emit(FeedbackEvent vote, List<ChatMessage> prompt, String completion, Long version, Collector<SettledVote> out) {
        settled.inc();
        out.collect(new SettledVote(vote.getModelId(), vote.getResponseId(), vote.getUserId(), vote.getEventId(),
                vote.getEventTime().toEpochMilli(), vote.getVote() == Vote.UP, List.copyOf(prompt), completion, version));
    }

    /** When a vote becomes final. */
    private long deadline(FeedbackEvent vote) {
        return vote.getEventTime().toEpochMilli() + config.lateness().toMillis();
    }

    /** When a final vote stops waiting for its answer's text. */
    private long expiry(FeedbackEvent vote) {
        return deadline(vote) + config.responseWait().toMillis();
    }

    private static long roundUp(long time, long granularity) {
        return Math.floorDiv(time + granularity - 1, granularity) * granularity;
    }

    private static Ballot orNew(Ballot b) {
        return b == null ? new Ballot() : b;
    }

    /** Later event time wins; equal times are broken by event id, so replays decide the same way. */
    public static boolean later(FeedbackEvent a, FeedbackEvent b) {
        int byTime = a.getEventTime().compareTo(b.getEventTime());
        return byTime > 0 || (byTime == 0 && a.getEventId().compareTo(b.getEventId()) > 0);
    }
}
