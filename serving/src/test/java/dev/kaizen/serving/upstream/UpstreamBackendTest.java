package dev.kaizen.serving.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;

import ai.djl.Device;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.checkpoints.CheckpointStore;
import dev.kaizen.serving.Announcements;
import dev.kaizen.serving.api.ApiError;
import dev.kaizen.serving.api.ChatBackend;
import dev.kaizen.serving.api.ChatRequest;
import dev.kaizen.serving.follow.KafkaClients;
import dev.kaizen.serving.follow.VersionFollower;
import dev.kaizen.testkit.EmbeddedKafkaExtension;

/**
 * How the gateway meets an upstream that misbehaves, against a stand-in speaking OpenAI's protocol
 * (the end-to-end test uses a real Kaizen serve; this one makes the upstream fail on cue): errors
 * become 502, silence 504 within the timeout, a stream that stalls is cut, and requests beyond the
 * connection bound wait, then 503.
 */
class UpstreamBackendTest {

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofMillis(800);

    @TempDir
    Path tmp;

    private HttpServer upstream;
    private volatile String behaviour = "answer";
    private final List<String> asked = new CopyOnWriteArrayList<>();
    private final List<String> models = new CopyOnWriteArrayList<>();
    /** The announcements topic of the last gateway started. */
    private String updates;

    @BeforeEach
    void standIn() throws IOException {
        upstream = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        upstream.setExecutor(Executors.newCachedThreadPool());
        upstream.createContext("/v1/models", ex -> reply(ex, 200, JSON.writeValueAsString(Map.of("object", "list",
                "data", models.stream().map(id -> Map.of("id", id, "object", "model")).toList()))));
        upstream.createContext("/v1/chat/completions", this::chat);
        upstream.start();
        models.add("tiny-v0");
    }

    @AfterEach
    void stop() {
        upstream.stop(0);
    }

    private void chat(HttpExchange ex) throws IOException {
        String request = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        asked.add(JSON.readTree(request).get("model").asText());
        switch (behaviour) {
            case "fail" -> reply(ex, 500, "{\"error\":{\"message\":\"CUDA out of memory\",\"type\":\"server_error\"}}");
            case "hang" -> sleep(5_000);
            case "stall" -> {
                ex.getResponseHeaders().add("Content-Type", "text/event-stream");
                ex.sendResponseHeaders(200, 0);
                OutputStream out = ex.getResponseBody();
                out.write("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
                sleep(5_000);
            }
            default -> reply(ex, 200, "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},"
                    + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}");
        }
    }

    private static void reply(HttpExchange ex, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length);
        ex.getResponseBody().write(bytes);
        ex.close();
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private UpstreamBackend gateway(int maxConnections) {
        String suffix = "-" + UUID.randomUUID();
        updates = "model-updates" + suffix;
        KAFKA.kafka().createTopics(1, "model-updates" + suffix, "model-releases" + suffix);
        return UpstreamBackend.start(new UpstreamBackend.Options(URI.create("http://127.0.0.1:" + upstream.getAddress().getPort()),
                UpstreamBackend.Options.DEFAULT_NAME_TEMPLATE, null, TIMEOUT, maxConnections, Duration.ofMillis(100),
                new VersionFollower.Options("tiny", KafkaClients.of(KAFKA.kafka().bootstrapServers()), "model-updates" + suffix,
                        tmp.resolve("store").toUri().toString(), null, "model-releases" + suffix), 0.1));
    }

    private static ChatRequest request(boolean stream) {
        return ChatRequest.parse(JSON.createObjectNode().put("stream", stream).set("messages",
                JSON.createArrayNode().add(JSON.createObjectNode().put("role", "user").put("content", "Hi"))), 1);
    }

    private static ApiError refused(ChatBackend backend, boolean stream) {
        long start = System.nanoTime();
        ApiError e = catchThrowableOfType(ApiError.class, () -> {
            try (ChatBackend.Turn turn = backend.begin(request(stream))) {
                turn.answer(piece -> {});
            }
        });
        assertThat(Duration.ofNanos(System.nanoTime() - start)).as("within the timeout and a little").isLessThan(TIMEOUT.plusMillis(700));
        return e;
    }

    @Test
    void anAnswerNamesTheVersionUpstreamAndBringsItsUsage() {
        try (UpstreamBackend gateway = gateway(4)) {
            try (ChatBackend.Turn turn = gateway.begin(request(false))) {
                assertThat(turn.version()).isZero();
                ChatBackend.Answer answer = turn.answer(piece -> {});
                assertThat(answer).isEqualTo(new ChatBackend.Answer("Hello", "stop", 3, 1));
            }
            assertThat(asked).containsExactly("tiny-v0");
            assertThat(gateway.health().ready()).isTrue();
        }
    }

    @Test
    void versionZeroIsTheBaseModelUnderTheModelIdAsVllmServesIt() {
        models.clear();
        models.add("tiny");
        try (UpstreamBackend gateway = gateway(4)) {
            try (ChatBackend.Turn turn = gateway.begin(request(false))) {
                assertThat(turn.version()).isZero();
                assertThat(turn.answer(piece -> {}).text()).isEqualTo("Hello");
            }
            assertThat(asked).containsExactly("tiny");
        }
    }

    @Test
    void aVersionIsRoutedToOnlyWhileTheUpstreamListsItElseTheNewestPromotedReleaseItHas() throws Exception {
        Path base = tmp.resolve("base");
        ModelPresets.TINY.write(base, 5);
        try (UpstreamBackend gateway = gateway(4); LlamaForCausalLM trainer = LlamaForCausalLM.load(base, Device.cpu())) {
            Announcements announce = new Announcements(trainer, new CheckpointStore(tmp.resolve("store").toUri().toString()), tmp,
                    KAFKA.kafka().bootstrapServers());
            announce.send(updates, true, announce.version(1, 0, 1));
            await(() -> gateway.versions().announced().size() == 1);
            Thread.sleep(300);
            assertThat(routed(gateway)).as("announced, not loaded upstream: not routed to").isZero();
            assertThat(gateway.health().detail()).contains("not yet the promoted release 1");

            models.add("tiny-v1");
            await(() -> gateway.version() == 1);
            assertThat(routed(gateway)).isEqualTo(1);
            assertThat(gateway.health()).isEqualTo(new ChatBackend.Health(true, "upstream serves tiny-v1"));

            models.remove("tiny-v1");  // the upstream restarted without its adapter
            await(() -> gateway.version() == 0);
            assertThat(routed(gateway)).isZero();
            assertThat(gateway.health().ready()).isTrue();
            assertThat(gateway.health().detail()).isEqualTo("upstream serves tiny-v0, not yet the promoted release 1");
            assertThat(asked).endsWith("tiny-v0");
        }
    }

    /** The version a plain request goes to, answered. */
    private static long routed(ChatBackend backend) {
        try (ChatBackend.Turn turn = backend.begin(request(false))) {
            turn.answer(piece -> {});
            return turn.version();
        }
    }

    private static void await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).isLessThan(deadline);
            Thread.sleep(50);
        }
    }

    @Test
    void anUpstreamErrorIsA502AndSilenceA504() {
        try (UpstreamBackend gateway = gateway(4)) {
            behaviour = "fail";
            ApiError failed = refused(gateway, false);
            assertThat(failed.status()).isEqualTo(502);
            assertThat(failed.getMessage()).contains("500").contains("CUDA out of memory");
            behaviour = "hang";
            assertThat(refused(gateway, false).status()).isEqualTo(504);
            assertThat(refused(gateway, true).status()).isEqualTo(504);
            behaviour = "stall";
            List<String> pieces = new ArrayList<>();
            ApiError cut = catchThrowableOfType(ApiError.class, () -> {
                try (ChatBackend.Turn turn = gateway.begin(request(true))) {
                    turn.answer(pieces::add);
                }
            });
            assertThat(pieces).as("what came before the stall was passed on").containsExactly("Hel");
            assertThat(cut.status()).isEqualTo(504);
        }
    }

    @Test
    void requestsBeyondTheConnectionBoundWaitThenGet503() throws Exception {
        try (UpstreamBackend gateway = gateway(1)) {
            ChatBackend.Turn held = gateway.begin(request(false));
            try {
                ApiError busy = catchThrowableOfType(ApiError.class, () -> gateway.begin(request(false)));
                assertThat(busy.status()).isEqualTo(503);
                assertThat(busy.retryAfterSeconds()).isEqualTo(1);
            } finally {
                held.close();
            }
            try (ChatBackend.Turn turn = gateway.begin(request(false))) {
                assertThat(turn.answer(piece -> {}).text()).isEqualTo("Hello");
            }
        }
    }

    @Test
    void aGoneUpstreamIsA502AtOnceAndReadinessSaysSo() throws Exception {
        try (UpstreamBackend gateway = gateway(4)) {
            upstream.stop(0);
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (gateway.health().ready()) {
                assertThat(System.nanoTime()).isLessThan(deadline);
                Thread.sleep(50);
            }
            assertThat(gateway.health().detail()).contains("unreachable");
            assertThat(refused(gateway, false).status()).isEqualTo(502);
        }
    }
}
