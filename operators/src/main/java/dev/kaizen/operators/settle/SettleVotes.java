package dev.kaizen.operators.settle;

import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

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

    /** Retention timers are rounded up to this, so one timer serves a burst of activity. */
    private static final long RETENTION_GRANULARITY = 60_000;

    // A response's per-user state is small: whole lists in single values cost one read and one
    // write per event, where iterating map state would cost a RocksDB seek per timer.
    private transient ValueState<ResponseLogged> response;
    private transient MapState<String, Boolean> seenEvents;
    private transient ValueState<List<FeedbackEvent>> pendingVotes;
    private transient ValueState<List<String>> decidedUsers;
    private transient ValueState<List<FeedbackEvent>> awaitingText;
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
        TypeInformation<List<FeedbackEvent>> votes = Types.LIST(TypeInformation.of(FeedbackEvent.class));
        pendingVotes = state.getState(new ValueStateDescriptor<>("pending-votes", votes));
        decidedUsers = state.getState(new ValueStateDescriptor<>("decided-users", Types.LIST(Types.STRING)));
        awaitingText = state.getState(new ValueStateDescriptor<>("awaiting-text", votes));
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
        List<String> decided = decidedUsers.value();
        if ((decided != null && decided.contains(vote.getUserId())) || deadline <= ctx.timerService().currentWatermark()) {
            late.inc();
            ctx.output(LATE, vote);
            return;
        }
        List<FeedbackEvent> pending = orEmpty(pendingVotes.value());
        FeedbackEvent current = pending.stream().filter(v -> v.getUserId().equals(vote.getUserId())).findFirst().orElse(null);
        if (current == null || later(vote, current)) {
            pending.remove(current);
            pending.add(vote);
            pendingVotes.update(pending);
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
        for (FeedbackEvent vote : orEmpty(awaitingText.value())) {
            emit(vote, answer.getPrompt(), answer.getCompletion(), out);
        }
        awaitingText.clear();
        extendRetention(ctx, ctx.timestamp() == null ? ctx.timerService().currentWatermark() : ctx.timestamp());
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<SettledVote> out) throws Exception {
        List<FeedbackEvent> pending = pendingVotes.value();
        if (pending != null) {
            List<FeedbackEvent> due = pending.stream()
                    .filter(v -> v.getEventTime().toEpochMilli() + config.lateness().toMillis() <= timestamp).toList();
            if (!due.isEmpty()) {
                List<FeedbackEvent> rest = new ArrayList<>(pending);
                rest.removeAll(due);
                update(pendingVotes, rest);
                List<String> decided = orEmpty(decidedUsers.value());
                for (FeedbackEvent vote : due) {
                    decided.add(vote.getUserId());
                    if (vote.getVote() != Vote.CLEAR) {
                        decide(vote, timestamp, ctx, out);
                    }
                }
                decidedUsers.update(decided);
            }
        }
        List<FeedbackEvent> awaiting = awaitingText.value();
        if (awaiting != null) {
            long wait = config.lateness().toMillis() + config.responseWait().toMillis();
            List<FeedbackEvent> expired = awaiting.stream().filter(v -> v.getEventTime().toEpochMilli() + wait <= timestamp).toList();
            for (FeedbackEvent vote : expired) {
                unknownResponse.inc();
                ctx.output(ValidateRecords.DEAD_LETTERS, unknownResponse(vote));
            }
            if (!expired.isEmpty()) {
                List<FeedbackEvent> rest = new ArrayList<>(awaiting);
                rest.removeAll(expired);
                update(awaitingText, rest);
            }
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
            List<FeedbackEvent> awaiting = orEmpty(awaitingText.value());
            awaiting.add(vote);
            awaitingText.update(awaiting);
            ctx.timerService().registerEventTimeTimer(now + config.responseWait().toMillis());
        }
    }

    private void emit(FeedbackEvent vote, List<dev.kaizen.schemas.ChatMessage> prompt, String completion, Collector<SettledVote> out) {
        settled.inc();
        out.collect(new SettledVote(vote.getModelId(), vote.getResponseId(), vote.getUserId(), vote.getEventId(),
                vote.getEventTime().toEpochMilli(), vote.getVote() == Vote.UP, List.copyOf(prompt), completion));
    }

    /**
     * Keeps the response's state until {@code retention} after its latest activity (rounded up to
     * the minute), then clears it. Superseded timers are not deleted: they fire, see a later
     * cleanup time and do nothing, which is cheaper than deleting them from RocksDB.
     */
    private void extendRetention(Context ctx, long activity) throws Exception {
        long at = Math.floorDiv(activity + config.retention().toMillis() + RETENTION_GRANULARITY - 1, RETENTION_GRANULARITY)
                * RETENTION_GRANULARITY;
        Long current = cleanupAt.value();
        if (current == null || at > current) {
            cleanupAt.update(at);
            ctx.timerService().registerEventTimeTimer(at);
        }
    }

    private static <T> List<T> orEmpty(List<T> list) {
        return list == null ? new ArrayList<>() : new ArrayList<>(list);
    }

    /** Stores the list, or clears the state when it is empty, so nothing lingers. */
    private static <T> void update(ValueState<List<T>> state, List<T> list) throws Exception {
        if (list.isEmpty()) {
            state.clear();
        } else {
            state.update(list);
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
