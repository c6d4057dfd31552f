package dev.kaizen.serving.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.embeddedkafka.FreePort;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.serving.follow.KafkaClients;
import dev.kaizen.serving.follow.ModelFollower;
import dev.kaizen.serving.log.FeedbackLog;
import dev.kaizen.testkit.EmbeddedKafkaExtension;

/**
 * What a hostile or careless client does to serving, on the real server, broker and model: bodies
 * over the limit however they are framed, hundreds of connections trickling their bodies, a
 * Kafka that is not there, clients that walk away, and requests malformed below the JSON.
 */
class HostileClientsTest {

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @TempDir
    static Path tmp;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private static final String HELLO = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":4,\"temperature\":0}";
    private static ModelFollower follower;
    private static FeedbackLog log;
    private static ChatServer server;

    @BeforeAll
    static void serve() throws IOException {
        follower = HttpFixture.follower(KAFKA.kafka(), tmp);
        log = new FeedbackLog(KafkaClients.of(KAFKA.kafka().bootstrapServers()), "chat-responses", "chat-feedback");
        server = new ChatServer(follower, log, new ChatServer.Options("127.0.0.1", 0, "s3cret", 4 << 20)).start();
    }

    @AfterAll
    static void stop() {
        server.close();
        log.close();
        follower.close();
    }

    @Test
    void aChunkedBodyIsHeldToTheLimitByTheBytesThatArrive() throws Exception {
        StringBuilder request = new StringBuilder("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
        String chunk = "x".repeat(64 * 1024);
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            OutputStream out = socket.getOutputStream();
            out.write(request.toString().getBytes(StandardCharsets.US_ASCII));
            try {
                // 8 MiB declared nowhere: twice the limit, in chunks.
                for (int i = 0; i < 128; i++) {
                    out.write((Integer.toHexString(chunk.length()) + "\r\n" + chunk + "\r\n").getBytes(StandardCharsets.US_ASCII));
                }
                out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            } catch (IOException refusedMidway) {
                // The server answered and closed before the rest was sent: what it should do.
            }
            String response = read(socket);
            assertThat(response).startsWith("HTTP/1.1 413").contains("\"code\":\"request_too_large\"");
        }
    }

    /**
     * Three hundred connections each send their headers and one byte of a body, and stop: every
     * route, health included, keeps answering at once, and each trickler is cut off with a 408
     * once the body deadline has passed.
     */
    @Test
    void clientsTricklingTheirBodiesHoldNoThreadsAndAreCutOff() throws Exception {
        List<Socket> slow = new ArrayList<>();
        try {
            for (int i = 0; i < 300; i++) {
                Socket socket = new Socket("127.0.0.1", server.port());
                socket.getOutputStream().write(("POST /v1/feedback HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                        + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{").getBytes(StandardCharsets.US_ASCII));
                slow.add(socket);
            }
            Thread.sleep(500);
            HttpResponse<String> health = send(get("/healthz").timeout(Duration.ofSeconds(5)));
            assertThat(health.statusCode()).isEqualTo(200);
            HttpResponse<String> vote = send(post("/v1/feedback", "{\"response_id\":\"r-1\",\"vote\":\"up\",\"user_id\":\"u-1\"}")
                    .timeout(Duration.ofSeconds(5)));
            assertThat(vote.statusCode()).as(vote.body()).isEqualTo(202);
            HttpResponse<String> chat = send(post("/v1/chat/completions", HELLO).timeout(Duration.ofSeconds(30)));
            assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);

            slow.get(0).setSoTimeout((int) ChatServer.BODY_DEADLINE.multipliedBy(3).toMillis());
            assertThat(read(slow.get(0))).startsWith("HTTP/1.1 408").contains("\"code\":\"request_timeout\"");
        } finally {
            for (Socket s : slow) {
                s.close();
            }
        }
    }

    /** Kafka is not there: chat and votes are refused at once with 503 and Retry-After, readiness says why, health stays up. */
    @Test
    void withoutKafkaRequestsFailFastAndReadinessSaysWhy() throws Exception {
        try (FeedbackLog away = new FeedbackLog(KafkaClients.of("127.0.0.1:" + FreePort.onLoopback()), "chat-responses", "chat-feedback");
             ChatServer orphan = new ChatServer(follower, away, new ChatServer.Options("127.0.0.1", 0, "s3cret", 1 << 20)).start()) {
            String base = "http://127.0.0.1:" + orphan.port();
            for (String[] route : List.of(new String[] {"/v1/chat/completions", HELLO},
                    new String[] {"/v1/feedback", "{\"response_id\":\"r\",\"vote\":\"up\",\"user_id\":\"u\"}"})) {
                long started = System.nanoTime();
                HttpResponse<String> refused = send(HttpRequest.newBuilder(URI.create(base + route[0])).header("Authorization", "Bearer s3cret")
                        .POST(HttpRequest.BodyPublishers.ofString(route[1])).timeout(Duration.ofSeconds(30)));
                assertThat(refused.statusCode()).as(route[0]).isEqualTo(503);
                assertThat(Duration.ofNanos(System.nanoTime() - started)).as("refused at once, not after a producer's timeout")
                        .isLessThan(Duration.ofSeconds(3));
                assertThat(refused.headers().firstValue("Retry-After")).isPresent();
                JsonNode error = JSON.readTree(refused.body()).get("error");
                assertThat(error.get("code").asText()).isEqualTo("kafka_unavailable");
                assertThat(error.get("message").asText()).doesNotContain("Exception").doesNotContain("org.apache");
            }
            HttpResponse<String> ready = send(HttpRequest.newBuilder(URI.create(base + "/readyz")));
            assertThat(ready.statusCode()).as("readiness needs no token").isEqualTo(503);
            assertThat(JSON.readTree(ready.body()).get("kafka").asText()).contains("does not answer");
            assertThat(send(HttpRequest.newBuilder(URI.create(base + "/healthz")).header("Authorization", "Bearer s3cret")).statusCode())
                    .isEqualTo(200);
        }
        assertThat(JSON.readTree(send(get("/readyz")).body()).get("status").asText()).isEqualTo("ready");
    }

    /** A topic serving would write to is missing: nothing is written (a look-up would create it with the broker's defaults). */
    @Test
    void aMissingTopicIsNeverCreatedByWritingToIt() throws Exception {
        try (FeedbackLog missing = new FeedbackLog(KafkaClients.of(KAFKA.kafka().bootstrapServers()), "chat-responses", "no-such-feedback");
             ChatServer server = new ChatServer(follower, missing, new ChatServer.Options("127.0.0.1", 0, null, 1 << 20)).start()) {
            HttpResponse<String> vote = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/feedback"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"response_id\":\"r\",\"vote\":\"up\",\"user_id\":\"u\"}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(vote.statusCode()).isEqualTo(503);
            assertThat(vote.body()).contains("no-such-feedback").contains("topics create");
        }
        assertThat(KAFKA.kafka().admin().listTopics().names().get()).doesNotContain("no-such-feedback");
    }

    /** A client that walks away from a streamed answer is counted under its own label, not as a server failure. */
    @Test
    void aClientThatAbandonsAStreamIsCountedAsClosedNotAsAnError() throws Exception {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":200,\"stream\":true}";
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            socket.getOutputStream().write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                    + "Content-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
            InputStream in = socket.getInputStream();
            assertThat(in.read(new byte[64])).isPositive();
            socket.setSoLinger(true, 0);  // a reset, as a browser tab closed mid-answer sends
        }
        String metrics = "";
        for (long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos(); System.nanoTime() < deadline; Thread.sleep(200)) {
            metrics = send(get("/metrics")).body();
            if (metrics.contains("route=\"/v1/chat/completions\",status=\"client_closed\"")) {
                break;
            }
        }
        assertThat(metrics).contains("kaizen_http_requests_total{route=\"/v1/chat/completions\",status=\"client_closed\"} 1.0")
                .doesNotContain("status=\"500\"");
    }

    /** What OpenAI's clients send today: text parts, the developer role, usage at the end of a stream, an empty stop, any-case scheme. */
    @Test
    void openAiClientsOfTodayAreUnderstood() throws Exception {
        HttpResponse<String> parts = send(HttpRequest.newBuilder(URI.create(url("/v1/chat/completions"))).header("Authorization", "bearer s3cret")
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},"
                        + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is \"},{\"type\":\"text\",\"text\":\"Kafka?\"}]}],"
                        + "\"max_tokens\":4,\"temperature\":0,\"stop\":\"\"}")));
        assertThat(parts.statusCode()).as(parts.body()).isEqualTo(200);
        JsonNode answer = JSON.readTree(parts.body());
        assertThat(answer.at("/usage/completion_tokens").asInt()).as("an empty stop string stops nothing").isPositive();
        ResponseLogged logged = logged(answer.get("id").asText());
        assertThat(logged.getPrompt()).extracting(m -> m.getRole() + ": " + m.getContent())
                .containsExactly("system: Be brief.", "user: What is Kafka?");

        HttpResponse<String> streamed = send(post("/v1/chat/completions",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":3,\"stream\":true,\"stream_options\":{\"include_usage\":true}}"));
        List<String> data = streamed.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        JsonNode last = JSON.readTree(data.get(data.size() - 2));
        assertThat(last.get("choices")).isEmpty();
        assertThat(last.at("/usage/total_tokens").asInt()).isEqualTo(last.at("/usage/prompt_tokens").asInt() + last.at("/usage/completion_tokens").asInt());

        HttpResponse<String> unauthorized = send(HttpRequest.newBuilder(URI.create(url("/v1/models"))));
        assertThat(unauthorized.statusCode()).isEqualTo(401);
        assertThat(unauthorized.headers().firstValue("WWW-Authenticate")).hasValueSatisfying(v -> assertThat(v).startsWith("Bearer"));
    }

    /** Every refusal names the field at fault where there is one, and never shows a library's insides. */
    @Test
    void refusalsNameTheirFieldAndNeverLeakInternals() throws Exception {
        record Case(String body, int status, String param, String says) {}
        List<Case> cases = List.of(
                new Case("{not json", 400, null, "not valid JSON (line 1, column 2)"),
                new Case(HELLO + " {\"again\":1}", 400, null, "more after its JSON value"),
                new Case(HELLO + "x", 400, null, "more after its JSON value"),
                new Case("", 400, null, "empty"),
                new Case("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}", 400,
                        "messages[0].content[0]", "text only"),
                new Case("{\"messages\":[{\"role\":\"user\",\"content\":\"" + "a".repeat(2048 * ModelFollower.MAX_CHARS_PER_TOKEN + 1) + "\"}]}",
                        413, "messages", "characters"),
                new Case("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream_options\":{\"include_usage\":\"yes\"}}", 400,
                        "stream_options.include_usage", "true or false"));
        for (Case c : cases) {
            HttpResponse<String> response = send(post("/v1/chat/completions", c.body()));
            String name = c.body().substring(0, Math.min(50, c.body().length()));
            assertThat(response.statusCode()).as(name).isEqualTo(c.status());
            JsonNode error = JSON.readTree(response.body()).get("error");
            assertThat(error.get("message").asText()).as(name).contains(c.says())
                    .doesNotContain("Feature").doesNotContain("com.fasterxml").doesNotContain("Exception").doesNotContain("`");
            assertThat(error.get("param").isNull() ? null : error.get("param").asText()).as(name).isEqualTo(c.param());
        }
        HttpResponse<String> noUser = send(post("/v1/feedback", "{\"response_id\":\"r\",\"vote\":\"up\"}"));
        assertThat(JSON.readTree(noUser.body()).at("/error/param").asText()).isEqualTo("user_id");
    }

    /** Requests Jetty itself refuses, before any route: still OpenAI's JSON error shape. */
    @Test
    void requestsRefusedBelowTheRoutesGetJsonErrorsToo() throws Exception {
        record Case(String request, String status) {}
        for (Case c : List.of(new Case("GARBAGE\r\n\r\n", "400"),
                new Case("GET /" + "a".repeat(100_000) + " HTTP/1.1\r\nHost: x\r\n\r\n", "414"),
                new Case("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + "b".repeat(100_000) + "\r\n\r\n", "431"))) {
            try (Socket socket = new Socket("127.0.0.1", server.port())) {
                socket.setSoTimeout(10_000);
                try {
                    socket.getOutputStream().write(c.request().getBytes(StandardCharsets.US_ASCII));
                } catch (IOException refusedMidway) {
                    // answered before the whole request was sent
                }
                String response = read(socket);
                assertThat(response).as(c.status()).startsWith("HTTP/1.1 " + c.status()).containsIgnoringCase("Content-Type: application/json");
                JsonNode error = JSON.readTree(response.substring(response.indexOf("\r\n\r\n") + 4)).get("error");
                assertThat(error.get("type").asText()).isEqualTo("invalid_request_error");
            }
        }
    }

    private static String url(String path) {
        return "http://127.0.0.1:" + server.port() + path;
    }

    private static HttpRequest.Builder get(String path) {
        return HttpRequest.newBuilder(URI.create(url(path))).header("Authorization", "Bearer s3cret");
    }

    private static HttpRequest.Builder post(String path, String body) {
        return HttpRequest.newBuilder(URI.create(url(path))).header("Authorization", "Bearer s3cret")
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
    }

    private static HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Everything the server sends until it closes the connection (or pauses for a few seconds). */
    private static String read(Socket socket) throws IOException {
        if (socket.getSoTimeout() == 0) {
            socket.setSoTimeout(10_000);
        }
        StringBuilder out = new StringBuilder();
        byte[] buffer = new byte[8192];
        try {
            InputStream in = socket.getInputStream();
            for (int n; (n = in.read(buffer)) != -1; ) {
                out.append(new String(buffer, 0, n, StandardCharsets.UTF_8));
                if (out.indexOf("\r\n\r\n") >= 0 && out.toString().endsWith("}")) {
                    break;
                }
            }
        } catch (java.net.SocketTimeoutException | java.net.SocketException e) {
            // what arrived is the answer
        }
        return out.toString();
    }

    private static ResponseLogged logged(String responseId) {
        return HttpFixture.logged(KAFKA.kafka(), responseId);
    }
}
