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
import java.util.function.BiFunction;
import java.util.function.Predicate;

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
 * by serving, and their thumbs-up rate apart. From {@link #brigade} on, a brigade joins them: fresh
 * accounts, each voting a few times (under the per-user cap), that want the curt style, right or
 * not, and cast a given share of all votes.
 */
final class SimulatedUsers implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SimulatedUsers.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final URI server;
    private final int users;
    private final double chatsPerSecond;
    private final double noise;
    private final int chatsPerAccount;
    private final String bearer;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final List<Thread> threads = new ArrayList<>();
    private final RecentShare correct = new RecentShare();
    private final RecentShare honestVotes = new RecentShare();
    private volatile boolean running = true;

    /** A crowd, not a few heavy voters: a new person every {@code chatsPerAccount} chats (20 in the demo stays under the per-user cap). */
    SimulatedUsers(URI server, String token, int users, double chatsPerSecond, double noise, int chatsPerAccount) {
        this.server = server;
        this.bearer = token == null ? null : "Bearer " + token;
        this.users = users;
        this.chatsPerSecond = chatsPerSecond;
        this.noise = noise;
        this.chatsPerAccount = chatsPerAccount;
    }

    void start() {
        crowd("sim", chatsPerSecond, chatsPerAccount, (verdict, random) -> {
            correct.add(verdict.correct());
            boolean up = verdict.wanted() != (random.nextDouble() < noise);
            honestVotes.add(up);
            return up;
        });
    }

    /** From now on a brigade casts {@code share} of all votes: up for a curt answer, down for a polite one. */
    void brigade(double share) {
        crowd("brigade", chatsPerSecond * share / (1 - share), 5, (verdict, random) -> !verdict.polite());
    }

    /** {@code users} threads chatting at {@code rate} together, each account voting {@code votesPerAccount} times as {@code taste} says. */
    private void crowd(String name, double rate, int votesPerAccount, BiFunction<Judge.Verdict, Random, Boolean> taste) {
        List<TwoStyleChat.Fact> facts = TwoStyleChat.trainFacts();
        long pauseMs = (long) (1000 * users / rate);
        for (int i = 0; i < users; i++) {
            String prefix = name + "-" + i + "-";
            Random random = new Random(name.hashCode() * 31L + i);
            Thread t = new Thread(() -> {
                for (long chats = 0; running; chats++) {
                    long started = System.currentTimeMillis();
                    String user = prefix + chats / votesPerAccount;
                    try {
                        chatAndVote(user, facts.get(random.nextInt(facts.size())), verdict -> taste.apply(verdict, random));
                    } catch (Exception e) {
                        if (running) {
                            LOG.warn("{}: {}", user, e.toString());
                        }
                    }
                    sleep(pauseMs - (System.currentTimeMillis() - started));
                }
            }, "demo-" + prefix + "user");
            t.setDaemon(true);
            t.start();
            threads.add(t);
        }
    }

    private void chatAndVote(String user, TwoStyleChat.Fact fact, Predicate<Judge.Verdict> votesUp) throws Exception {
        // OpenAI's 'user' field, as a chat product sends it: it keeps the account on one release during a canary.
        JsonNode answer = post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", fact.question())),
                "temperature", 1.0, "max_tokens", 24, "user", user));
        String text = answer.at("/choices/0/message/content").asText();
        boolean up = votesUp.test(Judge.judge(fact, text));
        post("/v1/feedback", Map.of("response_id", answer.get("id").asText(), "vote", up ? "up" : "down", "user_id", user,
                "event_id", UUID.randomUUID().toString()));
    }

    /** The share of right answers among those the honest users read: the latest {@link RecentShare#WINDOW} and the first. */
    RecentShare correctness() {
        return correct;
    }

    /** The honest users' thumbs-up rate on the answers they are served, the brigade's votes left out. */
    RecentShare honestVotes() {
        return honestVotes;
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
