package dev.kaizen.cli.demo;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.kaizen.alignment.synthetic.Judge;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.serving.api.RecentShare;

/**
 * Users with a hidden taste who chat and vote through the public HTTP API, as people at the page
 * would: each asks one of the task's questions, reads the answer as the {@link Judge} does, and
 * gives a thumbs up to a polite answer that is right and a thumbs down to anything else, with
 * {@code noise} of their votes the other way round. Their votes are counted where every vote is,
 * by serving.
 */
final class SimulatedUsers implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SimulatedUsers.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final URI server;
    private final int users;
    private final double chatsPerSecond;
    private final double noise;
    private final String bearer;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final List<Thread> threads = new ArrayList<>();
    private final RecentShare correct = new RecentShare();
    private volatile boolean running = true;

    SimulatedUsers(URI server, String token, int users, double chatsPerSecond, double noise) {
        this.server = server;
        this.bearer = token == null ? null : "Bearer " + token;
        this.users = users;
        this.chatsPerSecond = chatsPerSecond;
        this.noise = noise;
    }

    void start() {
        List<TwoStyleChat.Fact> facts = TwoStyleChat.trainFacts();
        long pauseMs = (long) (1000 * users / chatsPerSecond);
        for (int i = 0; i < users; i++) {
            int thread = i;
            Random random = new Random(i);
            Thread t = new Thread(() -> {
                for (long chats = 0; running; chats++) {
                    long started = System.currentTimeMillis();
                    // A crowd, not a few heavy voters: a new person every 20 chats stays under the per-user cap.
                    String user = "sim-" + thread + "-" + chats / 20;
                    try {
                        chatAndVote(user, facts.get(random.nextInt(facts.size())), random);
                    } catch (Exception e) {
                        if (running) {
                            LOG.warn("{}: {}", user, e.toString());
                        }
                    }
                    sleep(pauseMs - (System.currentTimeMillis() - started));
                }
            }, "demo-user-" + i);
            t.setDaemon(true);
            t.start();
            threads.add(t);
        }
    }

    private void chatAndVote(String user, TwoStyleChat.Fact fact, Random random) throws Exception {
        JsonNode answer = post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", fact.question())),
                "temperature", 1.0, "max_tokens", 24));
        String text = answer.at("/choices/0/message/content").asText();
        Judge.Verdict verdict = Judge.judge(fact, text);
        correct.add(verdict.correct());
        boolean up = verdict.wanted() != (random.nextDouble() < noise);
        post("/v1/feedback", Map.of("response_id", answer.get("id").asText(), "vote", up ? "up" : "down", "user_id", user,
                "event_id", UUID.randomUUID().toString()));
    }

    /** The share of right answers among those the users read: the latest {@link RecentShare#WINDOW} and the first. */
    RecentShare correctness() {
        return correct;
    }

    private JsonNode post(String path, Map<String, Object> body) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(server.resolve(path)).timeout(Duration.ofMinutes(1))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
        if (bearer != null) {
            request.header("Authorization", bearer);
        }
        HttpResponse<String> r = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() / 100 != 2) {
            throw new IllegalStateException(path + " answered " + r.statusCode() + ": " + r.body());
        }
        return JSON.readTree(r.body());
    }

    private static void sleep(long ms) {
        if (ms > 0) {
            try {
                Thread.sleep(ms);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public void close() throws InterruptedException {
        running = false;
        for (Thread t : threads) {
            t.join(70_000);
        }
    }
}
