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
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

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

    /** How many samples are pending and when their timeout fires: one state entry, read once per sample. */
    public record Progress(int count, long timeoutAt) {}

    private transient ListState<SettledVote> pending;
    private transient ValueState<Progress> progress;
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
        progress = getRuntimeContext().getState(new ValueStateDescriptor<>("progress", TypeInformation.of(Progress.class)));
        batches = getRuntimeContext().getMetricGroup().counter("batches");
        pendingByModel = new ConcurrentHashMap<>();
        getRuntimeContext().getMetricGroup().gauge("pendingDesirable", () -> pendingByModel.values().stream().mapToLong(p -> p[0]).sum());
        getRuntimeContext().getMetricGroup().gauge("pendingUndesirable", () -> pendingByModel.values().stream().mapToLong(p -> p[1]).sum());
    }

    @Override
    public void processElement(SettledVote vote, Context ctx, Collector<KtoBatch> out) throws Exception {
        pending.add(vote);
        pendingByModel.computeIfAbsent(ctx.getCurrentKey(), k -> new long[2])[vote.desirable() ? 0 : 1]++;
        Progress p = progress.value();
        int n = p == null ? 1 : p.count() + 1;
        if (n >= size) {
            emit(ctx.getCurrentKey(), out);
            clear(ctx, p);
        } else {
            progress.update(new Progress(n, p == null ? schedule(ctx, ctx.timerService().currentProcessingTime()) : p.timeoutAt()));
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<KtoBatch> out) throws Exception {
        Progress p = progress.value();
        if (p.count() >= 2) {
            emit(ctx.getCurrentKey(), out);
            clear(ctx, p);
        } else {
            // One sample cannot make a KTO batch: wait another timeout for a second.
            progress.update(new Progress(p.count(), schedule(ctx, timestamp)));
        }
    }

    private long schedule(Context ctx, long from) {
        long at = from + timeoutMs;
        ctx.timerService().registerProcessingTimeTimer(at);
        return at;
    }

    private void emit(String model, Collector<KtoBatch> out) throws Exception {
        List<SettledVote> samples = new ArrayList<>();
        pending.get().forEach(samples::add);
        batches.inc();
        out.collect(new KtoBatch(model, List.copyOf(samples)));
    }

    private void clear(Context ctx, Progress p) throws Exception {
        if (p != null) {
            ctx.timerService().deleteProcessingTimeTimer(p.timeoutAt());
        }
        pending.clear();
        pendingByModel.remove(ctx.getCurrentKey());
        progress.clear();
    }
}
