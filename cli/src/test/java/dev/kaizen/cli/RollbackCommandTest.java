package dev.kaizen.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import ai.djl.Device;

import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.embeddedkafka.EmbeddedKafka;
import dev.kaizen.jobs.continual.ContinualKtoJob;
import dev.kaizen.jobs.continual.JobConfig;
import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.ModelAction;
import dev.kaizen.schemas.ModelCommand;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.Topic;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.serving.Serving;
import dev.kaizen.serving.api.ChatServer;
import dev.kaizen.serving.follow.KafkaClients;
import dev.kaizen.serving.follow.ModelFollower;
import dev.kaizen.serving.follow.VersionFollower;
import dev.kaizen.testkit.EmbeddedKafkaExtension;

/**
 * {@code kaizen rollback} end to end: the job on a MiniCluster with RocksDB, serving following
 * model-updates and taking chats and votes over HTTP. Once a few versions are out, a rollback to
 * version 1 is announced by the job as the next version on version 1's files, and serving ends on
 * version 1's sha256; a rollback the CLI would refuse, written to model-commands directly, is
 * dead-lettered by the job.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class RollbackCommandTest {

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    private static final String MODEL = "two-style";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void theJobAnnouncesTheRollbackAndServingEndsOnTheRestoredCheckpoint() throws Exception {
        EmbeddedKafka kafka = KAFKA.kafka();
        kafka.createTopics(1, Arrays.stream(Topic.values()).map(Topic::topicName).toArray(String[]::new));
        Path base = tmp.resolve("base");
        ModelPresets.TINY.write(base, 1, TwoStyleChat.corpus());
        String servers = kafka.bootstrapServers();
        CliRun early = CliRun.of("rollback", "--model-id", MODEL, "--to-version", "1", "--bootstrap-servers", servers);
        assertThat(early.exitCode()).isEqualTo(1);
        assertThat(early.err()).contains("model two-style has no release on model-updates at " + servers);

        JobConfig config = JobConfig.load(null, List.of("kafka.bootstrap-servers=" + servers, "kafka.group-id=rollback-test",
                "event-time.out-of-orderness=200ms", "event-time.idleness=1s", "settle.lateness=1s", "batches.size=8",
                "batches.timeout=2s", "release.every-steps=1", "training.base-model-dir=" + base,
                // Every release straight to everyone: this test is about the command, the canary's rollback has its own.
                "canary.enabled=false",
                "training.checkpoint-root=" + tmp.resolve("store").toUri(), "flink.execution.checkpointing.interval=1s",
                "flink.state.backend.type=rocksdb", "flink.execution.checkpointing.dir=" + tmp.resolve("flink").toUri()));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(1, Configuration.fromMap(config.flink()));
        ContinualKtoJob.build(env, config, false);
        JobClient job = env.executeAsync("rollback-test");
        try (Serving serving = Serving.start(new Serving.Options(new ModelFollower.Options(base,
                new VersionFollower.Options(MODEL, KafkaClients.of(servers), "model-updates", config.training().checkpointRoot()),
                Device.cpu()), "chat-responses", "chat-feedback", new ChatServer.Options("127.0.0.1", 0, null, 1 << 20)))) {
            URI server = URI.create("http://127.0.0.1:" + serving.port());
            HttpClient http = HttpClient.newHttpClient();
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
            for (int i = 0; serving.follower().version() < 3; i++) {
                assertThat(System.nanoTime()).as("three versions served").isLessThan(deadline);
                TwoStyleChat.Fact fact = TwoStyleChat.trainFacts().get(i % TwoStyleChat.trainFacts().size());
                String id = post(http, server.resolve("/v1/chat/completions"), Map.of("messages",
                        List.of(Map.of("role", "user", "content", fact.question())), "max_tokens", 8)).get("id").asText();
                post(http, server.resolve("/v1/feedback"), Map.of("response_id", id, "vote", i % 3 == 0 ? "down" : "up",
                        "user_id", "user-" + i, "event_id", UUID.randomUUID().toString()));
            }
            // The votes stop; the last ones stay unsettled, since no later vote moves the watermark past them.
            List<ModelUpdate> before = releases(kafka, 3);
            ModelUpdate first = before.get(0);
            long current = before.get(before.size() - 1).getVersion();

            CliRun refused = CliRun.of("rollback", "--model-id", MODEL, "--to-version", Long.toString(current), "--bootstrap-servers", servers);
            assertThat(refused.exitCode()).isEqualTo(1);
            assertThat(refused.err()).contains("model two-style cannot roll back to version " + current + ": its current version is " + current);
            CliRun rollback = CliRun.of("rollback", "--model-id", MODEL, "--to-version", "1", "--bootstrap-servers", servers,
                    "--reason", "answers got worse");
            assertThat(rollback.exitCode()).as(rollback.err()).isZero();
            Matcher sent = Pattern.compile("rollback of two-style to version 1 \\(sha256 ([0-9a-f]{64})\\) sent as command ([0-9a-f-]{36}) "
                    + "\\(model-commands-0@0\\)").matcher(rollback.out());
            assertThat(sent.find()).as(rollback.out()).isTrue();
            assertThat(sent.group(1)).isEqualTo(first.getSha256());

            List<ModelUpdate> after = releases(kafka, before.size() + 1);
            ModelUpdate restored = after.get(after.size() - 1);
            assertThat(restored.getVersion()).isEqualTo(current + 1);
            assertThat(restored.getParentVersion()).isEqualTo(current);
            assertThat(restored.getRestoresVersion()).isEqualTo(1L);
            assertThat(restored.getCommandId()).isEqualTo(sent.group(2));
            assertThat(restored.getFeedbackCount()).isZero();
            assertThat(restored).extracting(ModelUpdate::getUri, ModelUpdate::getSha256, ModelUpdate::getFiles)
                    .containsExactly(first.getUri(), first.getSha256(), first.getFiles());
            deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
            while (serving.follower().version() < restored.getVersion()) {
                assertThat(System.nanoTime()).as("serving follows the rollback").isLessThan(deadline);
                Thread.sleep(100);
            }
            JsonNode stats = JSON.readTree(http.send(HttpRequest.newBuilder(server.resolve("/v1/stats")).build(),
                    HttpResponse.BodyHandlers.ofString()).body());
            assertThat(stats.get("rollbacks")).hasSize(1);
            assertThat(stats.at("/rollbacks/0/version").asLong()).isEqualTo(restored.getVersion());
            assertThat(stats.at("/rollbacks/0/restores").asLong()).isEqualTo(1);
            var served = serving.follower().acquire(null);
            try {
                assertThat(served.update().getSha256()).isEqualTo(first.getSha256());
            } finally {
                served.release();
            }

            // A command no CLI would send: the job dead-letters it and announces nothing.
            ModelCommand hostile = ModelCommand.newBuilder().setCommandId("c-999").setModelId(MODEL).setAction(ModelAction.ROLLBACK)
                    .setToVersion(999).setIssuedAt(Instant.now()).setIssuedBy("script@elsewhere").setReason(null).build();
            kafka.send("model-commands", List.of(WireCodec.modelCommands(Clock.systemUTC()).encode(hostile)));
            List<DeadLetter> dead = kafka.readCommitted("chat-feedback-dlq", 1, Duration.ofSeconds(3), Duration.ofMinutes(1)).stream()
                    .map(b -> ((Decoded.Valid<DeadLetter>) WireCodec.deadLetters(Clock.systemUTC()).decode(b)).value()).toList();
            assertThat(dead).extracting(DeadLetter::getSourceTopic, DeadLetter::getReason).containsExactly(
                    org.assertj.core.groups.Tuple.tuple("model-commands", "unknown-version"));
            assertThat(dead.get(0).getDetail()).isEqualTo("model two-style cannot roll back to version 999: its current version is "
                    + restored.getVersion() + " and the releases it can go back to are 1 to " + current);
            assertThat(releases(kafka, after.size())).hasSameSizeAs(after);
        } finally {
            job.cancel().get(1, TimeUnit.MINUTES);
        }
    }

    /** The releases on model-updates once there are at least {@code count}, then a few quiet seconds, oldest first. */
    private static List<ModelUpdate> releases(EmbeddedKafka kafka, int count) {
        WireCodec<ModelUpdate> codec = WireCodec.modelUpdates(Clock.systemUTC());
        return kafka.readCommitted("model-updates", count, Duration.ofSeconds(3), Duration.ofMinutes(1)).stream()
                .map(b -> ((Decoded.Valid<ModelUpdate>) codec.decode(b)).value()).toList();
    }

    private static JsonNode post(HttpClient http, URI uri, Map<String, Object> body) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode() / 100).as(r.body()).isEqualTo(2);
        return JSON.readTree(r.body());
    }
}
