package dev.kaizen.operators.settle;

import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import dev.kaizen.operators.validate.ValidateRecords;
import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.WireCodec;

/**
 * Dedup, join and settle, fused because all three are per response (keyed by response_id):
 * duplicates of an event id are dropped; per user the vote with the latest event time wins and
 * CLEAR withdraws it; the decision is final once the watermark passes its time plus the allowed
 * lateness, and votes after that leave on {@link #LATE}; a final vote is joined with its answer's
 * text (or uses the text it carries) and emitted, or dead-lettered as {@code unknown-response}
 * when no text arrives in time. All of a response's state and timers end with its retention.
 */
public final class SettleVotes extends KeyedCoProcessFunction<String, FeedbackEvent, ResponseLogged, SettledVote> {

    public static final OutputTag<FeedbackEvent> LATE = new OutputTag<>("late-votes", TypeInformation.of(FeedbackEvent.class));

    private final SettleConfig config;

    private transient ValueState<ResponseLogged> response;
    private transient MapState<String, Boolean> seenEvents;
    private transient MapState<String, FeedbackEvent> pendingVotes;
    private transient MapState<String, Boolean> decidedUsers;
    private transient MapState<String, FeedbackEvent> awaitingText;
    private transient ValueState<Long> cleanupAt;
    private transient WireCodec<FeedbackEvent> codec;
    private transient Counter duplicates;
    private transient Counter late;
    private transient Counter settled;
    private transient Counter unknownResponse;

    public SettleVotes(SettleConfig config) {
        this.config = config;
    }

    @Override
    public void open(OpenContext context) {
        var state = getRuntimeContext();
        response = state.getState(new ValueStateDescriptor<>("response", TypeInformation.of(ResponseLogged.class)));
        seenEvents = state.getMapState(new MapStateDescriptor<>("seen-events", Types.STRING, Types.BOOLEAN));
        pendingVotes = state.getMapState(new MapStateDescriptor<>("pending-votes", Types.STRING, TypeInformation.of(FeedbackEvent.class)));
        decidedUsers = state.getMapState(new MapStateDescriptor<>("decided-users", Types.STRING, Types.BOOLEAN));
        awaitingText = state.getMapState(new MapStateDescriptor<>("awaiting-text", Types.STRING, TypeInformation.of(FeedbackEvent.class)));
        cleanupAt = state.getState(new ValueStateDescriptor<>("cleanup-at", Types.LONG));
        codec = WireCodec.feedbackEvents(Clock.systemUTC());
        var metrics = getRuntimeContext().getMetricGroup();
        duplicates = metrics.counter("duplicates");
        late = metrics.counter("late");
        settled = metrics.counter("settled");
        unknownResponse = metrics.counter("unknown-response");
    }

    @Override
    public void processElement1(FeedbackEvent vote, Context ctx, Collector<SettledVote> out) throws Exception {
        if (seenEvents.contains(vote.getEventId())) {
            duplicates.inc();
            return;
        }
        seenEvents.put(vote.getEventId(), true);
        long time = vote.getEventTime().toEpochMilli();
        long deadline = time + config.lateness().toMillis();
        if (decidedUsers.contains(vote.getUserId()) || deadline <= ctx.timerService().currentWatermark()) {
            late.inc();
            ctx.output(LATE, vote);
            return;
        }
        FeedbackEvent current = pendingVotes.get(vote.getUserId());
        if (current == null || later(vote, current)) {
            pendingVotes.put(vote.getUserId(), vote);
            ctx.timerService().registerEventTimeTimer(deadline);
        }
        extendRetention(ctx, deadline);
    }

    @Override
    public void processElement2(ResponseLogged answer, Context ctx, Collector<SettledVote> out) throws Exception {
        if (response.value() != null) {
            return;  // a redelivered answer: the first one stands
        }
        response.update(answer);
        List<FeedbackEvent> ready = new ArrayList<>();
        awaitingText.values().forEach(ready::add);
        awaitingText.clear();
        for (FeedbackEvent vote : ready) {
            emit(vote, answer.getPrompt(), answer.getCompletion(), out);
        }
        extendRetention(ctx, ctx.timestamp() == null ? ctx.timerService().currentWatermark() : ctx.timestamp());
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<SettledVote> out) throws Exception {
        List<FeedbackEvent> due = new ArrayList<>();
        for (Map.Entry<String, FeedbackEvent> e : pendingVotes.entries()) {
            if (e.getValue().getEventTime().toEpochMilli() + config.lateness().toMillis() <= timestamp) {
                due.add(e.getValue());
            }
        }
        for (FeedbackEvent vote : due) {
            pendingVotes.remove(vote.getUserId());
            decidedUsers.put(vote.getUserId(), true);
            if (vote.getVote() != Vote.CLEAR) {
                decide(vote, timestamp, ctx, out);
            }
        }
        List<FeedbackEvent> expired = new ArrayList<>();
        for (FeedbackEvent vote : awaitingText.values()) {
            if (vote.getEventTime().toEpochMilli() + config.lateness().toMillis() + config.responseWait().toMillis() <= timestamp) {
                expired.add(vote);
            }
        }
        for (FeedbackEvent vote : expired) {
            awaitingText.remove(vote.getUserId());
            unknownResponse.inc();
            ctx.output(ValidateRecords.DEAD_LETTERS, unknownResponse(vote));
        }
        Long cleanup = cleanupAt.value();
        if (cleanup != null && timestamp >= cleanup) {
            response.clear();
            seenEvents.clear();
            pendingVotes.clear();
            decidedUsers.clear();
            awaitingText.clear();
            cleanupAt.clear();
        }
    }

    /** A final UP or DOWN: emitted now if its text is known, else it waits for the answer. */
    private void decide(FeedbackEvent vote, long now, OnTimerContext ctx, Collector<SettledVote> out) throws Exception {
        if (vote.getPrompt() != null) {
            emit(vote, vote.getPrompt(), vote.getCompletion(), out);
        } else if (response.value() != null) {
            emit(vote, response.value().getPrompt(), response.value().getCompletion(), out);
        } else {
            awaitingText.put(vote.getUserId(), vote);
            ctx.timerService().registerEventTimeTimer(now + config.responseWait().toMillis());
        }
    }

    private void emit(FeedbackEvent vote, List<dev.kaizen.schemas.ChatMessage> prompt, String completion, Collector<SettledVote> out) {
        settled.inc();
        out.collect(new SettledVote(vote.getModelId(), vote.getResponseId(), vote.getUserId(), vote.getEventId(),
                vote.getEventTime().toEpochMilli(), vote.getVote() == Vote.UP, List.copyOf(prompt), completion));
    }

    /** Keeps the response's state until {@code retention} after its latest activity, then clears it. */
    private void extendRetention(Context ctx, long activity) throws Exception {
        long at = activity + config.retention().toMillis();
        Long current = cleanupAt.value();
        if (current == null || at > current) {
            if (current != null) {
                ctx.timerService().deleteEventTimeTimer(current);
            }
            cleanupAt.update(at);
            ctx.timerService().registerEventTimeTimer(at);
        }
    }

    /** Later event time wins; equal times are broken by event id, so replays decide the same way. */
    private static boolean later(FeedbackEvent a, FeedbackEvent b) {
        int byTime = a.getEventTime().compareTo(b.getEventTime());
        return byTime > 0 || (byTime == 0 && a.getEventId().compareTo(b.getEventId()) > 0);
    }

    private DeadLetter unknownResponse(FeedbackEvent vote) {
        return DeadLetter.newBuilder().setSourceTopic("chat-feedback").setPartition(null).setOffset(null)
                .setReason("unknown-response")
                .setDetail("no answer with response_id " + vote.getResponseId() + " arrived within " + config.responseWait()
                        + " of the vote becoming final")
                .setOriginal(java.nio.ByteBuffer.wrap(codec.encode(vote))).setTime(Instant.now()).build();
    }
}
