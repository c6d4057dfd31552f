package dev.kaizen.cli;

import java.time.Duration;

import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;

import dev.kaizen.jobs.continual.ContinualKtoJob;
import dev.kaizen.jobs.continual.JobConfig;
import dev.kaizen.operators.accumulate.AccumulateBatches;
import dev.kaizen.operators.accumulate.KtoBatch;
import dev.kaizen.operators.cap.CapPerUser;
import dev.kaizen.operators.settle.SettleVotes;
import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.Vote;

/**
 * The yardstick of {@code bench pipeline}: the job's stages up to the accumulator built the
 * obvious way, one keyed operator per concern, each with its own state: dedup by event id, the
 * join with the answer's text by response id, settle per (response, user) with an event-time
 * timer per vote, the cap by model and user, the accumulator by model. Its sources, validation,
 * cap and accumulator are the job's own. It leaves out what the bench's events never need (late
 * votes are dropped, not sent on; a vote whose answer never comes waits for ever), so it does no
 * more work than the job, only the same work the obvious way.
 */
final class NaivePipeline {

    private NaivePipeline() {}

    /** The graph up to the accumulator: its samples (after the cap) and batches, as the job's {@link ContinualKtoJob.Outputs}. */
    static ContinualKtoJob.Outputs build(StreamExecutionEnvironment env, JobConfig c, boolean bounded) {
        ContinualKtoJob.Inputs in = ContinualKtoJob.inputs(env, c, bounded);
        DataStream<FeedbackEvent> unique = in.votes().keyBy(FeedbackEvent::getEventId).process(new Dedup()).name("naive-dedup");
        DataStream<Joined> joined = unique.keyBy(FeedbackEvent::getResponseId).connect(in.responses().keyBy(ResponseLogged::getResponseId))
                .process(new JoinText()).name("naive-join");
        DataStream<SettledVote> settled = joined.keyBy(j -> j.vote().getResponseId() + "\u0000" + j.vote().getUserId())
                .process(new Settle(c.settle().lateness())).name("naive-settle");
        DataStream<SettledVote> capped = settled.keyBy(CapPerUser::key)
                .process(new CapPerUser(c.userCapPerHour(), c.settle().horizon(), ContinualKtoJob.deadLetters(c))).name("naive-cap");
        DataStream<KtoBatch> batches = capped.keyBy(SettledVote::modelId)
                .process(new AccumulateBatches(c.batches().size(), c.batches().timeout())).name("naive-accumulate");
        return new ContinualKtoJob.Outputs(capped, batches, null);
    }

    /** A vote and the answer it is about (null when the vote carries its own text). */
    public record Joined(FeedbackEvent vote, ResponseLogged answer) {}

    /** Keyed by event id: passes each event once. */
    static final class Dedup extends KeyedProcessFunction<String, FeedbackEvent, FeedbackEvent> {
        private transient ValueState<Boolean> seen;

        @Override
        public void open(OpenContext context) {
            seen = getRuntimeContext().getState(new ValueStateDescriptor<>("seen", Boolean.class));
        }

        @Override
        public void processElement(FeedbackEvent vote, Context ctx, Collector<FeedbackEvent> out) throws Exception {
            if (seen.value() == null) {
                seen.update(true);
                out.collect(vote);
            }
        }
    }

    /** Keyed by response id: keeps every answer, and the votes that came before theirs. */
    static final class JoinText extends KeyedCoProcessFunction<String, FeedbackEvent, ResponseLogged, Joined> {
        private transient ValueState<ResponseLogged> answer;
        private transient ListState<FeedbackEvent> waiting;

        @Override
        public void open(OpenContext context) {
            answer = getRuntimeContext().getState(new ValueStateDescriptor<>("answer", TypeInformation.of(ResponseLogged.class)));
            waiting = getRuntimeContext().getListState(new ListStateDescriptor<>("waiting", TypeInformation.of(FeedbackEvent.class)));
        }

        @Override
        public void processElement1(FeedbackEvent vote, Context ctx, Collector<Joined> out) throws Exception {
            ResponseLogged a = answer.value();
            if (vote.getPrompt() != null || a != null) {
                out.collect(new Joined(vote, vote.getPrompt() != null ? null : a));
            } else {
                waiting.add(vote);
            }
        }

        @Override
        public void processElement2(ResponseLogged a, Context ctx, Collector<Joined> out) throws Exception {
            if (answer.value() != null) {
                return;
            }
            answer.update(a);
            for (FeedbackEvent vote : waiting.get()) {
                out.collect(new Joined(vote, a));
            }
            waiting.clear();
        }
    }

    /** Keyed by (response, user): the latest vote wins once the watermark passes its time plus the lateness. */
    static final class Settle extends KeyedProcessFunction<String, Joined, SettledVote> {
        private final long latenessMs;
        private transient ValueState<Joined> latest;
        private transient ValueState<Boolean> decided;

        Settle(Duration lateness) {
            this.latenessMs = lateness.toMillis();
        }

        @Override
        public void open(OpenContext context) {
            latest = getRuntimeContext().getState(new ValueStateDescriptor<>("latest", TypeInformation.of(Joined.class)));
            decided = getRuntimeContext().getState(new ValueStateDescriptor<>("decided", Boolean.class));
        }

        @Override
        public void processElement(Joined j, Context ctx, Collector<SettledVote> out) throws Exception {
            long deadline = j.vote().getEventTime().toEpochMilli() + latenessMs;
            if (decided.value() != null || deadline <= ctx.timerService().currentWatermark()) {
                return;
            }
            Joined current = latest.value();
            if (current == null || SettleVotes.later(j.vote(), current.vote())) {
                latest.update(j);
                ctx.timerService().registerEventTimeTimer(deadline);
            }
        }

        @Override
        public void onTimer(long timestamp, OnTimerContext ctx, Collector<SettledVote> out) throws Exception {
            Joined j = latest.value();
            if (j == null || j.vote().getEventTime().toEpochMilli() + latenessMs > timestamp) {
                return;
            }
            latest.clear();
            decided.update(true);
            FeedbackEvent v = j.vote();
            if (v.getVote() != Vote.CLEAR) {
                boolean own = j.answer() == null;
                out.collect(new SettledVote(v.getModelId(), v.getResponseId(), v.getUserId(), v.getEventId(), v.getEventTime().toEpochMilli(),
                        v.getVote() == Vote.UP, own ? v.getPrompt() : j.answer().getPrompt(), own ? v.getCompletion() : j.answer().getCompletion(),
                        own ? null : j.answer().getModelVersion(), ctx.timerService().currentProcessingTime()));
            }
        }
    }
}
