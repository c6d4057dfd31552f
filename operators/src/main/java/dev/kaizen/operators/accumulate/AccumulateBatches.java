package dev.kaizen.operators.accumulate;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.operators.settle.SettledVote;

/**
 * Keyed by model: gathers settled samples in keyed state (RocksDB in the job) and emits a KTO
 * mini-batch of {@code size} as soon as one is full, or whatever has gathered (two at least, as
 * KTO's reference point needs) when {@code timeout} of processing time passes. State and timer
 * are cleared whenever nothing is pending.
 */
public class AccumulateBatches extends KeyedProcessFunction<String, SettledVote, KtoBatch> {

    private final int size;
    private final long timeoutMs;

    private transient ListState<SettledVote> pending;
    private transient ValueState<Integer> count;
    private transient ValueState<Long> timer;
    private transient Counter batches;
    // Pending samples per model, for the gauges; samples restored from a checkpoint are not
    // counted here until their batch leaves.
    private transient Map<String, long[]> pendingByModel;

    public AccumulateBatches(int size, Duration timeout) {
        if (size < 2) {
            throw new IllegalArgumentException("a KTO batch needs at least 2 samples, not " + size);
        }
        this.size = size;
        this.timeoutMs = timeout.toMillis();
    }

    @Override
    public void open(OpenContext context) {
        pending = getRuntimeContext().getListState(new ListStateDescriptor<>("pending", TypeInformation.of(SettledVote.class)));
        count = getRuntimeContext().getState(new ValueStateDescriptor<>("pending-count", Types.INT));
        timer = getRuntimeContext().getState(new ValueStateDescriptor<>("timeout-at", Types.LONG));
        batches = getRuntimeContext().getMetricGroup().counter("batches");
        pendingByModel = new ConcurrentHashMap<>();
        getRuntimeContext().getMetricGroup().gauge("pendingDesirable", () -> pendingByModel.values().stream().mapToLong(p -> p[0]).sum());
        getRuntimeContext().getMetricGroup().gauge("pendingUndesirable", () -> pendingByModel.values().stream().mapToLong(p -> p[1]).sum());
    }

    @Override
    public void processElement(SettledVote vote, Context ctx, Collector<KtoBatch> out) throws Exception {
        pending.add(vote);
        pendingByModel.computeIfAbsent(ctx.getCurrentKey(), k -> new long[2])[vote.desirable() ? 0 : 1]++;
        int n = (count.value() == null ? 0 : count.value()) + 1;
        if (n >= size) {
            emit(ctx.getCurrentKey(), out);
            clear(ctx);
            return;
        }
        count.update(n);
        if (timer.value() == null) {
            long at = ctx.timerService().currentProcessingTime() + timeoutMs;
            timer.update(at);
            ctx.timerService().registerProcessingTimeTimer(at);
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<KtoBatch> out) throws Exception {
        if (count.value() != null && count.value() >= 2) {
            emit(ctx.getCurrentKey(), out);
            clear(ctx);
            return;
        }
        // One sample cannot make a KTO batch: wait another timeout for a second.
        long at = timestamp + timeoutMs;
        timer.update(at);
        ctx.timerService().registerProcessingTimeTimer(at);
    }

    private void emit(String model, Collector<KtoBatch> out) throws Exception {
        List<SettledVote> samples = new ArrayList<>();
        pending.get().forEach(samples::add);
        long desirable = samples.stream().filter(SettledVote::desirable).count();
        KtoLoss.Config weights = KtoLoss.weighted(KtoLoss.Config.defaults(), desirable, samples.size() - desirable);
        batches.inc();
        out.collect(new KtoBatch(model, List.copyOf(samples), weights.desirableWeight(), weights.undesirableWeight()));
    }

    private void clear(Context ctx) throws Exception {
        Long at = timer.value();
        if (at != null) {
            ctx.timerService().deleteProcessingTimeTimer(at);
        }
        pending.clear();
        pendingByModel.remove(ctx.getCurrentKey());
        count.clear();
        timer.clear();
    }
}
