package dev.kaizen.jobs.continual;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.testkit.EmbeddedKafkaExtension;

/**
 * The job up to the accumulator on a real broker and a MiniCluster with RocksDB and checkpoints,
 * against a known ground truth: every valid vote is counted exactly once, and every bad record
 * reaches the dead-letter topic with its reason.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ContinualKtoJobTest {

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

    private static final WireCodec<FeedbackEvent> VOTES = WireCodec.feedbackEvents(Clock.systemUTC());
    private static final WireCodec<ResponseLogged> RESPONSES = WireCodec.responses(Clock.systemUTC());

    /** A feedback record and the second (after {@code base}) it is about; garbage at -1. */
    private record Sent(int second, byte[] bytes) {}

    private final List<Sent> feedback = new ArrayList<>();
    private final List<byte[]> answers = new ArrayList<>();
    // Two hours ago, at the start of an hour, so the capped user's votes share one hour.
    private final Instant base = Instant.now().truncatedTo(ChronoUnit.HOURS).minus(Duration.ofHours(2));

    @Test
    void everyValidVoteCountsOnceAndEveryBadRecordIsDeadLettered() throws Exception {
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            answer("r" + i, i);
            vote("e" + i, "r" + i, "u" + i, Vote.UP, i + 1);
            expected.add("e" + i);
        }
        for (int i = 0; i < 10; i++) {
            vote("e" + i, "r" + i, "u" + i, Vote.UP, i + 1);           // redelivered duplicates
        }
        for (int i = 0; i < 5; i++) {
            vote("e" + i + "-changed", "r" + i, "u" + i, Vote.DOWN, i + 2);  // a change of mind wins
            expected.remove("e" + i);
            expected.add("e" + i + "-changed");
        }
        for (int i = 5; i < 8; i++) {
            vote("c" + i, "r" + i, "clearer" + i, Vote.UP, i + 1);
            vote("c" + i + "-clear", "r" + i, "clearer" + i, Vote.CLEAR, i + 2);  // withdrawn: nothing
        }
        for (int i = 0; i < 5; i++) {
            feedback.add(new Sent(-1, new byte[] {(byte) i, 42, 42}));  // garbage
        }
        for (int i = 0; i < 4; i++) {
            vote("ghost" + i, "never-answered-" + i, "u" + i, Vote.DOWN, 40 + i);
        }
        List<String> mallory = new ArrayList<>();
        for (int i = 10; i < 18; i++) {
            vote("m" + i, "r" + i, "mallory", Vote.UP, 50 + i);          // 8 votes against a cap of 5
            mallory.add("m" + i);
        }
        KAFKA.kafka().createTopics(2, "chat-feedback", "chat-responses", "chat-feedback-dlq", "chat-feedback-late");
        KAFKA.kafka().send("chat-responses", answers);
        // In event-time order, as clients send them: a change of mind read after the watermark passed its first vote's
        // deadline is rightly late, and the source's periodic watermark may fire in the middle of reading them.
        KAFKA.kafka().send("chat-feedback", feedback.stream().sorted(Comparator.comparingInt(Sent::second)).map(Sent::bytes).toList());

        Configuration conf = new Configuration();
        conf.setString("state.backend.type", "rocksdb");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(2);
        env.enableCheckpointing(500);
        // Both partitions of both topics hold records and the sources are bounded (their end is the
        // last watermark), so no partition may be taken for idle: one read late on a busy machine
        // would let the other's watermark decide votes whose change of mind it has not yet read.
        JobConfig config = JobConfig.load(null, List.of("kafka.bootstrap-servers=" + KAFKA.kafka().bootstrapServers(),
                "kafka.group-id=e2e-" + System.nanoTime(), "event-time.idleness=10min", "settle.lateness=10s",
                "settle.response-wait=1min", "settle.retention=5min", "user-cap-per-hour=5", "batches.size=4", "batches.timeout=5s"));
        List<SettledVote> samples = new ArrayList<>();
        try (var it = ContinualKtoJob.build(env, config, true).samples().executeAndCollect("continual-kto-e2e")) {
            it.forEachRemaining(samples::add);
        }

        // The cap lets through the first 5 of mallory's votes to settle, whichever they are; the rest are dead letters.
        List<String> passed = samples.stream().map(SettledVote::eventId).filter(id -> id.startsWith("m")).toList();
        assertThat(passed).hasSize(5).doesNotHaveDuplicates().isSubsetOf(mallory);
        assertThat(samples).extracting(SettledVote::eventId).filteredOn(id -> !id.startsWith("m"))
                .containsExactlyInAnyOrderElementsOf(expected);
        assertThat(samples).filteredOn(s -> s.eventId().endsWith("-changed")).allSatisfy(s -> assertThat(s.desirable()).isFalse());
        assertThat(samples).allSatisfy(s -> assertThat(s.completion()).startsWith("Answer to"));
        List<DeadLetter> dead = readCommitted("chat-feedback-dlq", WireCodec.deadLetters(Clock.systemUTC()), 12);
        assertThat(dead).extracting(DeadLetter::getReason).containsExactlyInAnyOrder(
                "bad-header", "bad-header", "bad-header", "bad-header", "bad-header",
                "unknown-response", "unknown-response", "unknown-response", "unknown-response",
                "user-cap", "user-cap", "user-cap");
        List<String> capped = dead.stream().filter(d -> d.getReason().equals("user-cap"))
                .map(d -> ((Decoded.Valid<FeedbackEvent>) VOTES.decode(d.getOriginal().array())).value().getEventId()).toList();
        List<String> all = new ArrayList<>(passed);
        all.addAll(capped);
        assertThat(all).containsExactlyInAnyOrderElementsOf(mallory);
    }

    private void answer(String response, int second) {
        answers.add(RESPONSES.encode(ResponseLogged.newBuilder().setResponseId(response).setModelId("tiny").setModelVersion(0)
                .setPrompt(List.of(new ChatMessage("user", "Question " + response))).setCompletion("Answer to " + response)
                .setCreatedAt(base.plusSeconds(second)).build()));
    }

    private void vote(String event, String response, String user, Vote vote, int second) {
        feedback.add(new Sent(second, VOTES.encode(FeedbackEvent.newBuilder().setEventId(event).setResponseId(response).setUserId(user)
                .setModelId("tiny").setVote(vote).setEventTime(base.plusSeconds(second))
                .setPrompt(null).setCompletion(null).setAttributes(null).build())));
    }

    private static <T> List<T> readCommitted(String topic, WireCodec<T> codec, int expected) {
        return KAFKA.kafka().readCommitted(topic, expected, Duration.ofSeconds(3), Duration.ofSeconds(30)).stream()
                .map(bytes -> ((Decoded.Valid<T>) codec.decode(bytes)).value()).toList();
    }
}
