package dev.kaizen.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.embeddedkafka.EmbeddedKafka;
import dev.kaizen.embeddedkafka.FreePort;
import dev.kaizen.jobs.continual.ContinualKtoJob;
import dev.kaizen.jobs.continual.JobConfig;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.Topic;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.serving.Serving;
import dev.kaizen.serving.api.ChatServer;
import dev.kaizen.serving.follow.KafkaClients;
import dev.kaizen.serving.follow.ModelFollower;
import dev.kaizen.serving.follow.VersionFollower;
import dev.kaizen.serving.upstream.UpstreamBackend;
import dev.kaizen.testkit.Await;
import dev.kaizen.testkit.EmbeddedKafkaExtension;

/**
 * {@code serve --upstream} end to end: a real broker, the job on a MiniCluster, a Kaizen serve
 * generating as the upstream, and the gateway in front of it. The upstream follows copies of the
 * announcement topics that the test feeds by hand, so the test decides when the upstream has a
 * version (as {@code rollout vllm} loads one some time after its announcement).
 */
class GatewayEndToEndTest {

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    private static final String MODEL = "two-style";
    private static final double FRACTION = 0.5;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path tmp;

    @Test
    void theGatewayRoutesOnlyToVersionsTheUpstreamServesLogsItsAnswersAndSurvivesTheUpstreamGoingAway() throws Exception {
        EmbeddedKafka kafka = KAFKA.kafka();
        kafka.createTopics(1, Arrays.stream(Topic.values()).map(Topic::topicName).toArray(String[]::new));
        // The upstream logs what it answers on topics of its own: the gateway logs each answer once, on the topics the job reads.
        kafka.createTopics(1, "upstream-model-updates", "upstream-model-releases", "upstream-chat-responses", "upstream-chat-feedback");
        Path base = tmp.resolve("base");
        ModelPresets.TINY.write(base, 1, TwoStyleChat.corpus());
        String servers = kafka.bootstrapServers();
        JobConfig config = JobConfig.load(null, List.of("kafka.bootstrap-servers=" + servers, "kafka.group-id=gateway-test",
                "event-time.out-of-orderness=200ms", "event-time.idleness=1s", "settle.lateness=1s", "batches.size=4",
                "batches.timeout=2s", "release.every-steps=1", "release.holdout-fraction=0", "release.max-answer-length-factor=100",
                "release.min-distinct2-ratio=0", "training.base-model-dir=" + base,
                // The first release stays on canary trial for the whole test: no verdict before a million votes.
                "canary.enabled=true", "canary.min-votes=1000000", "canary.look-every=1000000", "canary.max-votes=1000000",
                "training.checkpoint-root=" + tmp.resolve("store").toUri(), "flink.execution.checkpointing.interval=1s",
                "flink.state.backend.type=rocksdb", "flink.execution.checkpointing.dir=" + tmp.resolve("flink").toUri()));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(1, Configuration.fromMap(config.flink()));
        ContinualKtoJob.build(env, config, false);
        JobClient job = env.executeAsync("gateway-test");
        int upstreamPort = FreePort.onLoopback(1)[0];
        Serving upstream = upstream(base, servers, upstreamPort, config);
        try (Serving gateway = Serving.gateway(new UpstreamBackend.Options(URI.create("http://127.0.0.1:" + upstreamPort),
                UpstreamBackend.Options.DEFAULT_NAME_TEMPLATE, null, Duration.ofSeconds(2), 8, Duration.ofMillis(200),
                new VersionFollower.Options(MODEL, KafkaClients.of(servers), "model-updates", config.training().checkpointRoot(),
                        "model-rejections", "model-releases"), FRACTION),
                "chat-responses", "chat-feedback", new ChatServer.Options("127.0.0.1", 0, null, 1 << 20))) {
            URI at = URI.create("http://127.0.0.1:" + gateway.port());

            // Chats and votes through the gateway until the job, trained on them, announces release 1 (a canary).
            List<String> answered = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
            for (int i = 0; gateway.backend().versions().announced().isEmpty(); i++) {
                assertThat(System.nanoTime()).as("release 1 trained on the gateway's votes within 3 minutes").isLessThan(deadline);
                TwoStyleChat.Fact fact = TwoStyleChat.trainFacts().get(i % TwoStyleChat.trainFacts().size());
                HttpResponse<String> chat = chat(at, "early-" + i, fact.question(), false);
                assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);
                JsonNode body = JSON.readTree(chat.body());
                assertThat(body.get("model").asText()).isEqualTo(MODEL + "@0");
                assertThat(chat.headers().firstValue(ChatServer.VERSION_HEADER)).hasValue("0");
                answered.add(body.get("id").asText());
                assertThat(post(at, "/v1/feedback", Map.of("response_id", body.get("id").asText(), "vote", i % 3 == 0 ? "down" : "up",
                        "user_id", "voter-" + i, "event_id", UUID.randomUUID().toString())).statusCode()).isEqualTo(202);
            }
            ModelUpdate first = gateway.backend().versions().announced().get(0);
            assertThat(first.getCanary()).isTrue();
            assertThat(first.getFeedbackCount()).as("trained on votes cast through the gateway").isPositive();
            Map<String, ResponseLogged> logged = new HashMap<>();
            WireCodec<ResponseLogged> codec = WireCodec.responses(Clock.systemUTC());
            kafka.readCommitted("chat-responses", answered.size(), Duration.ZERO, Duration.ofSeconds(30))
                    .forEach(b -> logged.put(((Decoded.Valid<ResponseLogged>) codec.decode(b)).value().getResponseId(),
                            ((Decoded.Valid<ResponseLogged>) codec.decode(b)).value()));
            assertThat(answered).allSatisfy(id -> assertThat(logged.get(id).getModelVersion()).isZero());

            // Announced, but the upstream has not loaded it: nobody is routed to release 1.
            await(() -> gateway.backend().versions().announced().size() == 1, "the gateway knows release 1");
            Thread.sleep(1000);
            for (int u = 0; u < 40; u++) {
                assertThat(JSON.readTree(chat(at, "before-" + u, "Hi", false).body()).get("model").asText()).isEqualTo(MODEL + "@0");
            }
            assertThat(gateway.backend().candidateVersion()).isEqualTo(VersionFollower.NO_CANDIDATE);

            // The upstream gets release 1 (as a canary): the gateway routes the canary share of users to it.
            mirror(kafka, "model-updates", "upstream-model-updates");
            await(() -> gateway.backend().candidateVersion() == 1, "the gateway routes to release 1 once the upstream lists it");
            Map<String, String> versionOf = new HashMap<>();
            int onCandidate = 0;
            int users = 300;
            for (int u = 0; u < users; u++) {
                boolean stream = u % 3 == 0;
                String version = version(chat(at, "user-" + u, "Hi", stream), stream);
                versionOf.put("user-" + u, version);
                onCandidate += version.equals("1") ? 1 : 0;
            }
            System.out.printf("through the gateway, %d of %d users on the candidate (canary fraction %.2f)%n", onCandidate, users, FRACTION);
            // Binomial(300, 0.5): a standard deviation of 0.029; 0.1 is over three of them.
            assertThat((double) onCandidate / users).isBetween(FRACTION - 0.1, FRACTION + 0.1);
            for (int u = 0; u < 30; u++) {
                assertThat(version(chat(at, "user-" + u, "Again", u % 2 == 0), u % 2 == 0)).as("user-" + u + " stays on one release")
                        .isEqualTo(versionOf.get("user-" + u));
            }

            // The upstream goes away: chats fail fast with OpenAI-shaped errors, readiness says why; then it comes back.
            upstream.close();
            long before = System.nanoTime();
            HttpResponse<String> refused = chat(at, "user-1", "Hi", false);
            assertThat(Duration.ofNanos(System.nanoTime() - before)).isLessThan(Duration.ofSeconds(2));
            assertThat(refused.statusCode()).isIn(502, 504);
            assertThat(JSON.readTree(refused.body()).at("/error/code").asText()).startsWith("upstream_");
            await(() -> get(at, "/readyz").statusCode() == 503, "readiness reports the upstream gone");
            assertThat(get(at, "/readyz").body()).contains("upstream");
            upstream = upstream(base, servers, upstreamPort, config);
            await(() -> get(at, "/readyz").statusCode() == 200, "the gateway recovers on its own");
            assertThat(chat(at, "user-2", "Hi", false).statusCode()).isEqualTo(200);
        } finally {
            upstream.close();
            job.cancel().get(1, TimeUnit.MINUTES);
        }
    }

    /** A Kaizen serve generating on {@code port}, following the announcement copies the test feeds. */
    private static Serving upstream(Path base, String servers, int port, JobConfig config) {
        return Serving.start(new Serving.Options(new ModelFollower.Options(base, new VersionFollower.Options(MODEL, KafkaClients.of(servers),
                "upstream-model-updates", config.training().checkpointRoot(), null, "upstream-model-releases"), Device.cpu(), FRACTION),
                "upstream-chat-responses", "upstream-chat-feedback", new ChatServer.Options("127.0.0.1", port, null, 1 << 20)));
    }

    private static void mirror(EmbeddedKafka kafka, String from, String to) {
        kafka.send(to, kafka.readCommitted(from, 1, Duration.ZERO, Duration.ofSeconds(10)));
    }

    /** The version that wrote a chat's answer, from its header (streamed or not). */
    private static String version(HttpResponse<String> chat, boolean stream) throws Exception {
        assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);
        if (stream) {
            assertThat(chat.body()).contains("data: [DONE]");
        }
        return chat.headers().firstValue(ChatServer.VERSION_HEADER).orElseThrow();
    }

    private static HttpResponse<String> chat(URI at, String user, String content, boolean stream) throws Exception {
        return post(at, "/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", content)), "max_tokens", 2,
                "user", user, "stream", stream));
    }

    private static HttpResponse<String> post(URI at, String path, Map<String, Object> body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(at.resolve(path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> get(URI at, String path) {
        try {
            return HTTP.send(HttpRequest.newBuilder(at.resolve(path)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        Await.until(condition, Duration.ofSeconds(60), () -> what);
    }
}
