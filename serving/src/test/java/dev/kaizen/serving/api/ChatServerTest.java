package dev.kaizen.serving.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.serving.follow.KafkaClients;
import dev.kaizen.serving.follow.ModelFollower;
import dev.kaizen.serving.log.FeedbackLog;
import dev.kaizen.testkit.EmbeddedKafkaExtension;

/** Every route's contract against the real server on loopback, a real broker and a real model. */
class ChatServerTest {

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @TempDir
    static Path tmp;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static ModelFollower follower;
    private static FeedbackLog log;
    private static ChatServer server;
    private static ChatServer guarded;

    @BeforeAll
    static void serve() throws IOException {
        follower = HttpFixture.follower(KAFKA.kafka(), tmp);
        log = new FeedbackLog(KafkaClients.of(KAFKA.kafka().bootstrapServers()), "chat-responses", "chat-feedback");
        server = new ChatServer(follower, log, new ChatServer.Options("127.0.0.1", 0, null, 64 * 1024)).start();
        guarded = new ChatServer(follower, log, new ChatServer.Options("127.0.0.1", 0, "s3cret", 64 * 1024)).start();
    }

    @AfterAll
    static void stop() {
        guarded.close();
        server.close();
        log.close();
        follower.close();
    }

    private static HttpResponse<String> post(String path, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> get(String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static ResponseLogged logged(String responseId) {
        return HttpFixture.logged(KAFKA.kafka(), responseId);
    }

    @Test
    void anAnswerNamesItsVersionAndIsLoggedBeforeItIsGiven() throws Exception {
        // The client returns at the response's first bytes, its body still unread: how far the log
        // reaches at that moment is what was logged before anything of the answer was given.
        HttpResponse<InputStream> response = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                        + "/v1/chat/completions")).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}],"
                        + "\"max_tokens\":8,\"temperature\":0}")).build(), HttpResponse.BodyHandlers.ofInputStream());
        TopicPartition responses = new TopicPartition("chat-responses", 0);
        long loggedByThen;
        try (Admin admin = KAFKA.kafka().admin()) {
            loggedByThen = admin.listOffsets(Map.of(responses, OffsetSpec.latest())).all().get().get(responses).offset();
        }
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue(ChatServer.VERSION_HEADER)).hasValue("1");
        JsonNode body;
        try (InputStream in = response.body()) {
            body = JSON.readTree(in);
        }
        String id = body.get("id").asText();
        List<byte[]> before = KAFKA.kafka().readCommitted("chat-responses", (int) loggedByThen, Duration.ZERO, Duration.ofSeconds(30))
                .subList(0, (int) loggedByThen);
        WireCodec<ResponseLogged> codec = WireCodec.responses(Clock.systemUTC());
        assertThat(before).as("the answer's record is in the log before its first byte reaches the client")
                .anyMatch(r -> ((Decoded.Valid<ResponseLogged>) codec.decode(r)).value().getResponseId().equals(id));
        assertThat(body.get("object").asText()).isEqualTo("chat.completion");
        assertThat(body.get("model").asText()).isEqualTo("tiny@1");
        assertThat(body.at("/choices/0/message/role").asText()).isEqualTo("assistant");
        assertThat(body.at("/choices/0/finish_reason").asText()).isIn("stop", "length");
        assertThat(body.at("/usage/completion_tokens").asInt()).isBetween(1, 8);

        ResponseLogged logged = logged(body.get("id").asText());
        assertThat(logged.getModelVersion()).isEqualTo(1);
        assertThat(logged.getCompletion()).isEqualTo(body.at("/choices/0/message/content").asText());
        assertThat(logged.getPrompt().get(0).getContent()).isEqualTo("What is the capital of France?");
    }

    @Test
    void aStreamedAnswerArrivesAsServerSentEventsEndingInDone() throws Exception {
        HttpResponse<String> response = post("/v1/chat/completions",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":6,\"temperature\":0,\"stream\":true}");
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
        List<String> data = response.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        List<JsonNode> chunks = new ArrayList<>();
        for (String d : data.subList(0, data.size() - 1)) {
            chunks.add(JSON.readTree(d));
        }
        assertThat(chunks.get(0).at("/choices/0/delta/role").asText()).isEqualTo("assistant");
        assertThat(chunks).allSatisfy(c -> assertThat(c.get("model").asText()).isEqualTo("tiny@1"));
        assertThat(chunks.get(chunks.size() - 1).at("/choices/0/finish_reason").asText()).isIn("stop", "length");
        StringBuilder text = new StringBuilder();
        chunks.forEach(c -> text.append(c.at("/choices/0/delta/content").asText("")));
        assertThat(logged(chunks.get(0).get("id").asText()).getCompletion()).isEqualTo(text.toString());
    }

    @Test
    void aVoteBecomesAFeedbackEventAndAClientEventIdMakesRetriesIdempotent() throws Exception {
        long counted = server.recentVotes().count();
        String vote = "{\"response_id\":\"chatcmpl-1\",\"vote\":\"up\",\"user_id\":\"alice\",\"event_id\":\"e-42\"}";
        HttpResponse<String> first = post("/v1/feedback", vote);
        HttpResponse<String> retry = post("/v1/feedback", vote);
        assertThat(first.statusCode()).isEqualTo(202);
        assertThat(JSON.readTree(first.body()).get("event_id").asText()).isEqualTo("e-42");
        assertThat(retry.statusCode()).isEqualTo(202);
        WireCodec<FeedbackEvent> codec = WireCodec.feedbackEvents(Clock.systemUTC());
        List<FeedbackEvent> events = KAFKA.kafka().readCommitted("chat-feedback", 2, Duration.ofMillis(500), Duration.ofSeconds(30)).stream()
                .map(r -> ((Decoded.Valid<FeedbackEvent>) codec.decode(r)).value()).filter(e -> e.getResponseId().equals("chatcmpl-1")).toList();
        assertThat(events).extracting(FeedbackEvent::getEventId).containsExactly("e-42", "e-42");
        assertThat(events.get(0).getVote()).isEqualTo(Vote.UP);
        assertThat(events.get(0).getUserId()).isEqualTo("alice");
        assertThat(events.get(0).getModelId()).isEqualTo("tiny");
        assertThat(server.recentVotes().count()).as("votes taken through the API, whoever sends them").isEqualTo(counted + 2);
    }

    /** /metrics counts each version's current votes: a changed vote moves from up to down. */
    @Test
    void theMetricsCountEachVersionsVotesAsTheyStand() throws Exception {
        String id = JSON.readTree(post("/v1/chat/completions",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":2,\"temperature\":0}").body()).get("id").asText();
        double up = versionVotes("up");
        double down = versionVotes("down");
        assertThat(post("/v1/feedback", "{\"response_id\":\"" + id + "\",\"vote\":\"up\",\"user_id\":\"carol\"}").statusCode()).isEqualTo(202);
        assertThat(versionVotes("up")).isEqualTo(up + 1);
        assertThat(post("/v1/feedback", "{\"response_id\":\"" + id + "\",\"vote\":\"down\",\"user_id\":\"carol\"}").statusCode()).isEqualTo(202);
        assertThat(versionVotes("up")).isEqualTo(up);
        assertThat(versionVotes("down")).isEqualTo(down + 1);
    }

    /** Version 1's current {@code vote} count on /metrics (0 before it has any). */
    private static double versionVotes(String vote) throws Exception {
        Matcher m = Pattern.compile("kaizen_answer_votes\\{version=\"1\",vote=\"" + vote + "\"} (\\S+)")
                .matcher(get("/metrics").body());
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    @Test
    void badRequestsGetOpenAiErrorsNeverA500() throws Exception {
        String hello = "[{\"role\":\"user\",\"content\":\"hi\"}]";
        record Case(String path, String body, int status, String paramOrCode) {}
        List<Case> cases = List.of(
                new Case("/v1/chat/completions", "{not json", 400, null),
                new Case("/v1/chat/completions", "[]", 400, null),
                new Case("/v1/chat/completions", "{}", 400, "messages"),
                new Case("/v1/chat/completions", "{\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", 400, "messages[0].role"),
                new Case("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":7}]}", 400, "messages[0].content"),
                new Case("/v1/chat/completions", "{\"messages\":" + hello + ",\"max_tokens\":0}", 400, "max_tokens"),
                new Case("/v1/chat/completions", "{\"messages\":" + hello + ",\"temperature\":\"hot\"}", 400, "temperature"),
                new Case("/v1/chat/completions", "{\"messages\":" + hello + ",\"n\":3}", 400, "n"),
                new Case("/v1/chat/completions", "{\"messages\":" + hello + ",\"stream\":\"yes\"}", 400, "stream"),
                new Case("/v1/chat/completions", "{\"messages\":" + hello + ",\"user\":42}", 400, "user"),
                new Case("/v1/chat/completions", "{\"messages\":" + hello + ",\"user\":\"" + "u".repeat(257) + "\"}", 400, "user"),
                new Case("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"" + "word ".repeat(3000) + "\"}]}",
                        413, "messages"),
                new Case("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"" + "x".repeat(70_000) + "\"}]}", 413, null),
                new Case("/v1/feedback", "{\"response_id\":\"r\",\"vote\":\"maybe\",\"user_id\":\"u\"}", 400, "vote"),
                new Case("/v1/feedback", "{\"response_id\":\"r\",\"vote\":\"up\"}", 400, "missing-field"),
                new Case("/v1/feedback", "{\"response_id\":\"has space\",\"vote\":\"up\",\"user_id\":\"u\"}", 400, "invalid-characters"),
                new Case("/v1/nothing", "{}", 404, null));
        for (Case c : cases) {
            HttpResponse<String> response = post(c.path(), c.body());
            assertThat(response.statusCode()).as(c.path() + " " + c.body().substring(0, Math.min(60, c.body().length())))
                    .isEqualTo(c.status());
            JsonNode error = JSON.readTree(response.body()).get("error");
            assertThat(error.get("message").asText()).isNotBlank();
            assertThat(error.get("type").asText()).isNotBlank();
            if (c.paramOrCode() != null) {
                assertThat(List.of(error.get("param").asText(), error.get("code").asText())).contains(c.paramOrCode());
            }
        }
        assertThat(get("/v1/chat/completions").statusCode()).isEqualTo(405);
    }

    @Test
    void theBearerTokenGuardsEveryRoute() throws Exception {
        for (String path : List.of("/healthz", "/v1/models", "/metrics")) {
            String url = "http://127.0.0.1:" + guarded.port() + path;
            HttpResponse<String> without = HTTP.send(HttpRequest.newBuilder(URI.create(url)).GET().build(), HttpResponse.BodyHandlers.ofString());
            HttpResponse<String> wrong = HTTP.send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer nope").GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            HttpResponse<String> right = HTTP.send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer s3cret").GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(without.statusCode()).as(path).isEqualTo(401);
            assertThat(JSON.readTree(without.body()).at("/error/type").asText()).isEqualTo("authentication_error");
            assertThat(wrong.statusCode()).as(path).isEqualTo(401);
            assertThat(right.statusCode()).as(path).isEqualTo(200);
        }
        HttpResponse<String> chat = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + guarded.port() + "/v1/chat/completions"))
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(chat.statusCode()).isEqualTo(401);
    }

    @Test
    void modelsHealthAndMetricsDescribeWhatIsServing() throws Exception {
        JsonNode models = JSON.readTree(get("/v1/models").body()).get("data");
        assertThat(models).hasSize(3);
        // The version in service, also under the name a request (or a Kaizen gateway) asks for it by.
        assertThat(models.get(2).get("id").asText()).isEqualTo("tiny-v1");
        assertThat(models.get(2).get("root").asText()).isEqualTo("tiny@1");
        assertThat(models.get(0).get("id").asText()).isEqualTo("tiny@0");
        assertThat(models.get(1).get("id").asText()).isEqualTo("tiny@1");
        assertThat(models.get(1).get("parent").asLong()).isZero();
        assertThat(models.get(1).get("serving").asBoolean()).isTrue();
        assertThat(models.get(1).get("role").asText()).isEqualTo("promoted");
        assertThat(models.get(1).get("canary").asBoolean()).isFalse();
        assertThat(models.get(1).get("decision").isNull()).isTrue();
        assertThat(models.get(0).get("role").isNull()).isTrue();
        assertThat(models.get(1).at("/metrics/loss").asDouble()).isEqualTo(0.69);
        assertThat(models.get(1).get("created").asLong()).isPositive();

        JsonNode health = JSON.readTree(get("/healthz").body());
        assertThat(health.get("status").asText()).isEqualTo("ok");
        assertThat(health.get("version").asLong()).isEqualTo(1);

        HttpResponse<String> metrics = get("/metrics");
        assertThat(metrics.headers().firstValue("Content-Type").orElse("")).startsWith("text/plain");
        assertThat(metrics.body()).contains("kaizen_model_version 1.0").contains("kaizen_http_requests_total{route=\"/healthz\",status=\"200\"}");
    }

    @Test
    void aRequestNamingAVersionInServiceGetsItAndOneNamingAnotherIsNotFound() throws Exception {
        HttpResponse<String> named = post("/v1/chat/completions",
                "{\"model\":\"tiny-v1\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
        assertThat(named.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(named.body()).get("model").asText()).isEqualTo("tiny@1");
        HttpResponse<String> other = post("/v1/chat/completions",
                "{\"model\":\"tiny-v7\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
        assertThat(other.statusCode()).isEqualTo(404);
        assertThat(JSON.readTree(other.body()).at("/error/code").asText()).isEqualTo("model_not_found");
        assertThat(JSON.readTree(other.body()).at("/error/message").asText()).contains("tiny-v7").contains("tiny-v1");
    }

    @Test
    void theChatPageSendsAMessageAndItsThumbsUpReachesTheFeedbackTopic() throws Exception {
        ChromeOptions options = new ChromeOptions().setBinary("/usr/bin/chromium")
                .addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1366,860");
        // Debian's driver, named outright, so Selenium never tries to download one.
        ChromeDriverService driverService = new ChromeDriverService.Builder().usingDriverExecutable(new File("/usr/bin/chromedriver")).build();
        WebDriver browser = new ChromeDriver(driverService, options);
        try {
            browser.get("http://127.0.0.1:" + server.port() + "/");
            WebDriverWait wait = new WebDriverWait(browser, Duration.ofSeconds(60));
            wait.until(ExpectedConditions.textToBe(By.id("serving"), "tiny@1"));
            browser.findElement(By.id("message")).sendKeys("What is the capital of France?");
            browser.findElement(By.id("send")).click();
            WebElement up = wait.until(ExpectedConditions.elementToBeClickable(By.cssSelector(".assistant .meta button.vote.up")));
            assertThat(browser.findElement(By.cssSelector(".assistant .meta .version")).getText()).isEqualTo("tiny@1");
            up.click();
            wait.until(ExpectedConditions.attributeContains(By.cssSelector(".assistant .meta button.vote.up"), "class", "chosen"));

            WireCodec<FeedbackEvent> codec = WireCodec.feedbackEvents(Clock.systemUTC());
            FeedbackEvent vote = KAFKA.kafka().readCommitted(List.of("chat-feedback"), records -> records.stream()
                            .anyMatch(r -> ((Decoded.Valid<FeedbackEvent>) codec.decode(r)).value().getUserId().startsWith("web-")),
                    Duration.ZERO, Duration.ofSeconds(30)).stream().map(r -> ((Decoded.Valid<FeedbackEvent>) codec.decode(r)).value())
                    .filter(e -> e.getUserId().startsWith("web-")).findFirst().orElseThrow();
            assertThat(vote.getVote()).isEqualTo(Vote.UP);
            ResponseLogged answered = logged(vote.getResponseId());
            assertThat(answered.getModelVersion()).isEqualTo(1);
            assertThat(answered.getPrompt().get(0).getContent()).isEqualTo("What is the capital of France?");
            JsonNode stats = JSON.readTree(get("/v1/stats").body());
            assertThat(stats.at("/versions/0/version").asLong()).isEqualTo(1);
            assertThat(stats.at("/versions/0/up").asLong()).isGreaterThanOrEqualTo(1);
            assertThat(stats.at("/refused/0/after").asLong()).isEqualTo(1);
            assertThat(stats.at("/refused/0/reason").asText()).isEqualTo(HttpFixture.REFUSAL);
            assertThat(stats.get("rollbacks")).isEmpty();

            wait.until(d -> ((JavascriptExecutor) d).executeScript("return Chart.getChart('chart').data.datasets[0].data.length").equals(1L));
            // The refused candidate is marked on the rate of the version that stayed in service.
            wait.until(d -> ((JavascriptExecutor) d).executeScript("return Chart.getChart('chart').data.datasets[2].data.map(p => p.x).join()")
                    .equals("v1"));
            Path screenshot = Path.of("target/screenshots/chat-page.png");
            Files.createDirectories(screenshot.getParent());
            Files.write(screenshot, ((TakesScreenshot) browser).getScreenshotAs(OutputType.BYTES));
        } finally {
            browser.quit();
        }
    }
}
