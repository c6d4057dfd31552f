package dev.kaizen.jobs.demo;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.kaizen.alignment.synthetic.TwoStyleChat;

/**
 * Users with a hidden taste who chat and vote through the public HTTP API, as people at the page
 * would: each asks one of the task's questions, reads the answer, and gives a thumbs up to the
 * polite style A and a thumbs down to the curt style B, with {@code noise} of their votes the
 * other way round. Keeps the thumbs-up rate of the last {@link #WINDOW} answers.
 */
final class SimulatedUsers implements AutoCloseable {

    static final int WINDOW = 200;
    private static final Logger LOG = LoggerFactory.getLogger(SimulatedUsers.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final URI server;
    private final int users;
    private final double chatsPerSecond;
    private final double noise;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final Deque<Boolean> window = new ArrayDeque<>();
    private final List<Thread> threads = new ArrayList<>();
    private volatile boolean running = true;
    private long votes;
    private Double initialRate;

    SimulatedUsers(URI server, int users, double chatsPerSecond, double noise) {
        this.server = server;
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
        boolean up = (TwoStyleChat.styleOf(text) == TwoStyleChat.Style.A) != (random.nextDouble() < noise);
        post("/v1/feedback", Map.of("response_id", answer.get("id").asText(), "vote", up ? "up" : "down", "user_id", user,
                "event_id", UUID.randomUUID().toString()));
        synchronized (this) {
            window.addLast(up);
            if (window.size() > WINDOW) {
                window.removeFirst();
            }
            votes++;
            if (votes == WINDOW) {
                initialRate = rate();
            }
        }
    }

    private JsonNode post(String path, Map<String, Object> body) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(server.resolve(path)).timeout(Duration.ofMinutes(1))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() / 100 != 2) {
            throw new IllegalStateException(path + " answered " + r.statusCode() + ": " + r.body());
        }
        return JSON.readTree(r.body());
    }

    /** Thumbs-up share of the last {@link #WINDOW} votes (NaN before the first). */
    synchronized double rate() {
        return window.isEmpty() ? Double.NaN : window.stream().filter(b -> b).count() / (double) window.size();
    }

    /** The rate over the first {@link #WINDOW} votes, once there were that many; until then the rate so far. */
    synchronized double initialRate() {
        return initialRate != null ? initialRate : rate();
    }

    synchronized long votes() {
        return votes;
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
