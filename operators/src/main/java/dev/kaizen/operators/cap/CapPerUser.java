package dev.kaizen.operators.cap;

import java.time.Duration;
import java.time.Instant;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import dev.kaizen.operators.deadletter.DeadLetters;
import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.schemas.wire.DeadLetterReason;

/**
 * One user cannot steer the model: keyed by (model, user), at most {@code limit} settled samples
 * per event-time hour pass; the surplus is dead-lettered as {@code user-cap}, replayable. A vote
 * reaches this stage only once it settled, up to {@code settleHorizon} after its event time (the
 * settle lateness plus the wait for its answer's text), so an hour's count is kept until the
 * watermark is that far past the hour: dropped earlier, the hour's last votes would count again
 * from zero.
 */
public final class CapPerUser extends KeyedProcessFunction<String, SettledVote, SettledVote> {

    static final long HOUR = Duration.ofHours(1).toMillis();

    private final int limit;
    private final long settleHorizon;
    private final DeadLetters deadLetters;
    private transient MapState<Long, Integer> countsByHour;
    private transient Counter capped;

    public CapPerUser(int limit, Duration settleHorizon, DeadLetters deadLetters) {
        if (limit < 1) {
            throw new IllegalArgumentException("the per-user cap must be at least 1 sample an hour, not " + limit);
        }
        this.limit = limit;
        this.settleHorizon = settleHorizon.toMillis();
        this.deadLetters = deadLetters;
    }

    /** The key this stage expects: model and user together. */
    public static String key(SettledVote vote) {
        return vote.modelId() + "\u0000" + vote.userId();
    }

    @Override
    public void open(OpenContext context) {
        countsByHour = getRuntimeContext().getMapState(new MapStateDescriptor<>("counts-by-hour", Types.LONG, Types.INT));
        capped = getRuntimeContext().getMetricGroup().counter("capped");
    }

    @Override
    public void processElement(SettledVote vote, Context ctx, Collector<SettledVote> out) throws Exception {
        long hour = Math.floorDiv(vote.eventTime(), HOUR) * HOUR;
        Integer count = countsByHour.get(hour);
        int n = count == null ? 0 : count;
        if (n < limit) {
            if (count == null) {
                ctx.timerService().registerEventTimeTimer(hour + HOUR + settleHorizon);
            }
            countsByHour.put(hour, n + 1);
            out.collect(vote);
            return;
        }
        capped.inc();
        ctx.output(DeadLetters.TAG, deadLetters.settledVote(vote.toFeedbackEvent(),
                new DeadLetterReason.UserCap(vote.userId(), vote.modelId(), limit, Instant.ofEpochMilli(hour)), Instant.now()));
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<SettledVote> out) throws Exception {
        countsByHour.remove(timestamp - HOUR - settleHorizon);
    }
}
