package dev.kaizen.clients;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.assertj.core.groups.Tuple;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import dev.kaizen.jobs.continual.ContinualKtoJob;
import dev.kaizen.jobs.continual.JobConfig;
import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.testkit.EmbeddedKafkaExtension;

/**
 * Each client writes a scripted stream with its own producer to a real broker, and the job (up to
 * the accumulator, on a MiniCluster with RocksDB) settles it with exact counts: answers and votes,
 * a change of mind, a withdrawn vote, a redelivered duplicate, a vote carrying its own text, and a
 * vote written with a released schema file (schemas/history/FeedbackEvent.v1.avsc).
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ClientsToJobTest {

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

    private static final int ANSWERS = 10;
    private static final Path V1 = Path.of("..", "schemas", "history", "FeedbackEvent.v1.avsc");

    // An hour ago, at the start of an hour: every time below is in the past and within one hour.
    private final Instant base = Instant.now().truncatedTo(ChronoUnit.HOURS).minus(Duration.ofHours(1));

    @ParameterizedTest
    @EnumSource(Client.class)
    void theJobSettlesWhatTheClientWroteWithExactCounts(Client client) throws Exception {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < ANSWERS; i++) {
            lines.add(Client.line(ResponseLogged.newBuilder().setResponseId("r" + i).setModelId("m").setModelVersion(i % 3)
                    .setPrompt(List.of(new ChatMessage("user", "Question " + i))).setCompletion("Answer " + i)
                    .setCreatedAt(base.plusSeconds(i)).build(), null));
        }
        for (int i = 0; i < ANSWERS; i++) {
            lines.add(vote("e" + i, "r" + i, "u" + i, i % 2 == 0 ? Vote.UP : Vote.DOWN, 20 + i, null));
        }
        lines.add(vote("e0", "r0", "u0", Vote.UP, 20, null));                  // redelivered: counts once
        lines.add(vote("e1-flip", "r1", "u1", Vote.UP, 40, null));             // changed their mind: the later vote wins
        lines.add(vote("c2", "r2", "clearer", Vote.UP, 41, null));
        lines.add(vote("c2-clear", "r2", "clearer", Vote.CLEAR, 42, null));    // withdrawn: nothing
        lines.add(vote("old", "r3", "older-app", Vote.DOWN, 43, V1));          // an app still on the released v1 schema
        lines.add(Client.line(FeedbackEvent.newBuilder().setEventId("inline").setResponseId("elsewhere").setUserId("u-text")
                .setModelId("m").setVote(Vote.UP).setEventTime(base.plusSeconds(44))
                .setPrompt(List.of(new ChatMessage("user", "Asked elsewhere"))).setCompletion("Its own text").setAttributes(null).build(), null));

        String suffix = "-" + client.name().toLowerCase();
        KAFKA.kafka().createTopics(2, "chat-feedback" + suffix, "chat-responses" + suffix, "chat-feedback-dlq" + suffix,
                "chat-feedback-late" + suffix);
        client.run(lines, "send", KAFKA.kafka().bootstrapServers(), "chat-responses" + suffix, "chat-feedback" + suffix);
        assertThat(KAFKA.kafka().readCommitted("chat-feedback" + suffix, lines.size() - ANSWERS, Duration.ZERO, Duration.ofSeconds(30))
                .stream().map(b -> WireCodec.feedbackEvents(Clock.systemUTC()).decode(b))).as("every vote decodes")
                .hasSize(lines.size() - ANSWERS).allMatch(d -> d instanceof Decoded.Valid<?>);

        Configuration conf = new Configuration();
        conf.setString("state.backend.type", "rocksdb");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(2);
        env.enableCheckpointing(500);
        // Bounded sources whose end is the last watermark: no partition may be taken for idle meanwhile.
        JobConfig config = JobConfig.load(null, List.of("kafka.bootstrap-servers=" + KAFKA.kafka().bootstrapServers(),
                "kafka.group-id=clients" + suffix, "event-time.idleness=10min", "settle.lateness=10s", "settle.response-wait=1min",
                "settle.retention=5min", "batches.size=4", "batches.timeout=5s",
                "topics.feedback=chat-feedback" + suffix, "topics.responses=chat-responses" + suffix,
                "topics.dead-letters=chat-feedback-dlq" + suffix, "topics.late=chat-feedback-late" + suffix));
        List<SettledVote> samples = new ArrayList<>();
        try (var it = ContinualKtoJob.build(env, config, true).samples().executeAndCollect("clients" + suffix)) {
            it.forEachRemaining(samples::add);
        }

        List<Tuple> expected = new ArrayList<>();
        for (int i = 0; i < ANSWERS; i++) {
            String event = i == 1 ? "e1-flip" : "e" + i;
            expected.add(tuple(event, "r" + i, "u" + i, i == 1 || i % 2 == 0, "Answer " + i, (long) (i % 3)));
        }
        expected.add(tuple("old", "r3", "older-app", false, "Answer 3", 0L));
        expected.add(tuple("inline", "elsewhere", "u-text", true, "Its own text", null));
        assertThat(samples).extracting(SettledVote::eventId, SettledVote::responseId, SettledVote::userId, SettledVote::desirable,
                SettledVote::completion, SettledVote::modelVersion).containsExactlyInAnyOrderElementsOf(expected);
        assertThat(KAFKA.kafka().readCommitted("chat-feedback-dlq" + suffix, 1, Duration.ZERO, Duration.ofSeconds(3)))
                .as("no dead letters").isEmpty();
    }

    private String vote(String event, String response, String user, Vote vote, int second, Path schemaFile) {
        return Client.line(FeedbackEvent.newBuilder().setEventId(event).setResponseId(response).setUserId(user).setModelId("m")
                .setVote(vote).setEventTime(base.plusSeconds(second)).setPrompt(null).setCompletion(null).setAttributes(null).build(),
                schemaFile);
    }
}
