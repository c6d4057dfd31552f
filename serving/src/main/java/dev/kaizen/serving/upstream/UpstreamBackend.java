package dev.kaizen.serving.upstream;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.DoubleConsumer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.serving.api.ApiError;
import dev.kaizen.serving.api.ChatBackend;
import dev.kaizen.serving.api.ChatRequest;
import dev.kaizen.serving.follow.CanaryRouting;
import dev.kaizen.serving.follow.FirstServed;
import dev.kaizen.serving.follow.VersionFollower;

/**
 * Kaizen in front of an OpenAI-compatible server (vLLM, SGLang, TGI, another Kaizen serve): the
 * versions follow the job's announcements and verdicts as serving's own do, but the answers come
 * from the upstream, asked for the chosen version by name ({@code --upstream-model-name}, as
 * {@code rollout vllm} loads the adapters). A version is routed to only while the upstream lists it:
 * one not loaded yet is not asked for, and when the upstream has lost the promoted release (a
 * restart), requests go to the newest promoted release it still has, which readiness reports.
 */
public final class UpstreamBackend implements ChatBackend {

    private static final Logger LOG = LoggerFactory.getLogger(UpstreamBackend.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The upstream's base URL, the name template ({@code {model_id}}, {@code {version}}), its bearer
     * token (null: none), how long a request may wait for it, how many requests it is sent at once, how
     * often its model list is read, what to follow, and the canary's share of conversations.
     */
    public record Options(URI url, String nameTemplate, String token, Duration timeout, int maxConnections, Duration listEvery,
                          VersionFollower.Options versions, double canaryFraction) {

        public static final String DEFAULT_NAME_TEMPLATE = "{model_id}-v{version}";
    }

    private final Options options;
    private final HttpClient http;
    private final Semaphore connections;
    private final CanaryRouting routing;
    private final Wanted wanted = new Wanted();
    private final ScheduledExecutorService scheduler;
    private volatile UpstreamModels models = UpstreamModels.NOT_YET;
    private final FirstServed firstServed = new FirstServed();
    private VersionFollower follower;

    private UpstreamBackend(Options options) {
        this.options = options;
        this.routing = new CanaryRouting(options.canaryFraction());
        this.connections = new Semaphore(options.maxConnections());
        // Each request in flight holds one connection; the semaphore bounds them, so the pool is bounded too.
        this.http = HttpClient.newBuilder().connectTimeout(options.timeout()).version(HttpClient.Version.HTTP_1_1).build();
        this.scheduler = Executors.newScheduledThreadPool(1, r -> {
            Thread t = new Thread(r, "upstream-" + options.versions().modelId());
            t.setDaemon(true);
            return t;
        });
    }

    /** Reads the upstream's models, catches up with the announcements, then keeps both current. */
    public static UpstreamBackend start(Options options) {
        UpstreamBackend backend = new UpstreamBackend(options);
        try {
            backend.list();
            backend.follower = VersionFollower.start(options.versions(), backend.wanted);
            backend.scheduler.scheduleWithFixedDelay(backend::list, options.listEvery().toMillis(), options.listEvery().toMillis(),
                    TimeUnit.MILLISECONDS);
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
        return backend;
    }

    private void list() {
        UpstreamModels now = UpstreamModels.read(http, options.url(), options.token(), options.timeout());
        UpstreamModels before = models;
        models = now;
        if (now.reachable() != before.reachable() || !now.names().equals(before.names())) {
            LOG.info("upstream {}: {}", options.url(), now.reachable() ? "serves " + now.names() : now.problem());
        }
        // A version enters service here when it is first routed to, as serving's own swap reports it.
        for (long v : List.of(routedPromoted(now), routedCandidate(now))) {
            ModelUpdate update = v > 0 ? announcedVersion(v) : null;
            if (update != null) {
                firstServed.served(update);
            }
        }
    }

    private ModelUpdate announcedVersion(long version) {
        return follower == null ? null : follower.announced().stream().filter(u -> u.getVersion() == version).findFirst().orElse(null);
    }

    /** The name the upstream serves {@code version} under, or null if it serves none for it. */
    String upstreamName(long version, UpstreamModels listing) {
        String name = options.nameTemplate().replace("{model_id}", ChatBackend.nameSafe(modelId()))
                .replace("{version}", Long.toString(version));
        if (listing.serves(name)) {
            return name;
        }
        if (version != 0) {
            return null;
        }
        // The base model under its own name: as the adapters name their parent, or the model id (vLLM's --served-model-name).
        if (listing.base() != null && listing.serves(listing.base())) {
            return listing.base();
        }
        return listing.serves(modelId()) ? modelId() : null;
    }

    /** The newest promoted release the upstream serves; -1 if none. */
    private long routedPromoted(UpstreamModels listing) {
        List<Long> history = wanted.promoted;
        for (int i = history.size() - 1; i >= 0; i--) {
            if (upstreamName(history.get(i), listing) != null) {
                return history.get(i);
            }
        }
        return -1;
    }

    private long routedCandidate(UpstreamModels listing) {
        long c = wanted.candidate;
        return c != VersionFollower.NO_CANDIDATE && upstreamName(c, listing) != null ? c : VersionFollower.NO_CANDIDATE;
    }

    @Override
    public Turn begin(ChatRequest request) {
        UpstreamModels listing = models;
        long version;
        OptionalLong named = request.version(modelId());
        if (named.isPresent()) {
            version = named.getAsLong();
            if (version != routedPromoted(listing) && version != routedCandidate(listing)) {
                throw new ApiError(404, "invalid_request_error", "model", "model_not_found", request.model() + " is not in service");
            }
        } else {
            long promoted = routedPromoted(listing);
            long candidate = routedCandidate(listing);
            version = candidate != VersionFollower.NO_CANDIDATE && routing.toCandidate(request.user(), candidate) ? candidate : promoted;
        }
        if (version < 0) {
            throw unavailable(listing.reachable() ? "the upstream serves no version of " + modelId() : listing.problem());
        }
        String name = upstreamName(version, listing);
        try {
            if (!connections.tryAcquire(options.timeout().toMillis(), TimeUnit.MILLISECONDS)) {
                throw new ApiError(503, "server_error", null, "upstream_busy", options.maxConnections()
                        + " requests are in flight to the upstream already; retry shortly").retryAfter(1);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw unavailable("interrupted");
        }
        long chosen = version;
        return new Turn() {
            @Override
            public long version() {
                return chosen;
            }

            @Override
            public Answer answer(Consumer<String> onPiece) {
                return request.stream() ? stream(request, name, onPiece) : complete(request, name);
            }

            @Override
            public void close() {
                connections.release();
            }
        };
    }

    private ApiError unavailable(String why) {
        return new ApiError(502, "server_error", null, "upstream_unavailable", "the upstream " + options.url() + " cannot answer: " + why);
    }

    private HttpRequest request(ChatRequest request, String name, boolean stream) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", name);
        body.put("messages", request.messages().stream().map(m -> Map.of("role", m.role(), "content", m.content())).toList());
        body.put("max_tokens", request.sampling().maxNewTokens());
        body.put("temperature", request.sampling().temperature());
        body.put("top_p", request.sampling().topP());
        if (request.seeded()) {
            body.put("seed", request.sampling().seed());
        }
        if (!request.sampling().stop().isEmpty()) {
            body.put("stop", request.sampling().stop());
        }
        if (request.user() != null) {
            body.put("user", request.user());
        }
        if (stream) {
            body.put("stream", true);
            // The usage is logged and counted whatever the client asked: the upstream sends it last.
            body.put("stream_options", Map.of("include_usage", true));
        }
        try {
            HttpRequest.Builder builder = HttpRequest.newBuilder(options.url().resolve("/v1/chat/completions")).timeout(options.timeout())
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
            if (options.token() != null) {
                builder.header("Authorization", "Bearer " + options.token());
            }
            return builder.build();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Sends and waits for the response's head at most the timeout: 504 past it, 502 when the upstream cannot be reached. */
    private <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> handler) {
        var pending = http.sendAsync(request, handler);
        try {
            return pending.get(options.timeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            pending.cancel(true);
            throw timeout();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof HttpTimeoutException) {
                throw timeout();
            }
            throw unavailable(String.valueOf(e.getCause()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            pending.cancel(true);
            throw unavailable("interrupted");
        }
    }

    private ApiError timeout() {
        return new ApiError(504, "server_error", null, "upstream_timeout", "the upstream " + options.url() + " did not answer within "
                + options.timeout().toMillis() + " ms");
    }

    private static ApiError failed(int status, String body) {
        String message;
        try {
            message = JSON.readTree(body).at("/error/message").asText(body);
        } catch (IOException e) {
            message = body;
        }
        message = message.length() > 500 ? message.substring(0, 500) + "…" : message;
        return new ApiError(502, "server_error", null, "upstream_error", "the upstream answered " + status + ": " + message);
    }

    private Answer complete(ChatRequest request, String name) {
        HttpResponse<String> response = send(request(request, name, false), HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() / 100 != 2) {
            throw failed(response.statusCode(), response.body());
        }
        try {
            JsonNode body = JSON.readTree(response.body());
            JsonNode choice = body.path("choices").path(0);
            return new Answer(choice.at("/message/content").asText(""), choice.path("finish_reason").asText("stop"),
                    body.at("/usage/prompt_tokens").asInt(0), body.at("/usage/completion_tokens").asInt(0));
        } catch (IOException e) {
            throw new ApiError(502, "server_error", null, "upstream_error", "the upstream's answer is not JSON: " + e.getMessage());
        }
    }

    /**
     * Passes the upstream's stream on chunk by chunk. A stream that goes silent for the timeout is
     * cut (its connection closed by a watchdog) and reported as a timeout.
     */
    private Answer stream(ChatRequest request, String name, Consumer<String> onPiece) {
        HttpResponse<InputStream> response = send(request(request, name, true), HttpResponse.BodyHandlers.ofInputStream());
        AtomicLong lastRead = new AtomicLong(System.nanoTime());
        boolean[] cut = {false};
        try (InputStream in = response.body();
             BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            if (response.statusCode() / 100 != 2) {
                throw failed(response.statusCode(), new String(in.readNBytes(64 * 1024), StandardCharsets.UTF_8));
            }
            ScheduledFuture<?> watchdog = scheduler.scheduleWithFixedDelay(() -> {
                if (System.nanoTime() - lastRead.get() > options.timeout().toNanos()) {
                    cut[0] = true;
                    try {
                        in.close();
                    } catch (IOException ignored) {
                        // closing is all the watchdog can do
                    }
                }
            }, 200, 200, TimeUnit.MILLISECONDS);
            try {
                StringBuilder text = new StringBuilder();
                String finish = "stop";
                int promptTokens = 0;
                int completionTokens = 0;
                for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                    lastRead.set(System.nanoTime());
                    if (!line.startsWith("data:")) {
                        continue;
                    }
                    String data = line.substring(5).strip();
                    if (data.equals("[DONE]")) {
                        break;
                    }
                    JsonNode chunk = JSON.readTree(data);
                    if (chunk.has("error")) {
                        throw failed(response.statusCode(), data);
                    }
                    JsonNode choice = chunk.path("choices").path(0);
                    String piece = choice.at("/delta/content").asText("");
                    if (!piece.isEmpty()) {
                        text.append(piece);
                        onPiece.accept(piece);
                    }
                    if (choice.path("finish_reason").isTextual()) {
                        finish = choice.get("finish_reason").asText();
                    }
                    if (chunk.path("usage").isObject()) {
                        promptTokens = chunk.at("/usage/prompt_tokens").asInt(0);
                        completionTokens = chunk.at("/usage/completion_tokens").asInt(0);
                    }
                }
                return new Answer(text.toString(), finish, promptTokens, completionTokens);
            } finally {
                watchdog.cancel(false);
            }
        } catch (IOException e) {
            if (cut[0]) {
                throw timeout();
            }
            throw unavailable("the stream broke off (" + e + ")");
        }
    }

    @Override
    public Health health() {
        UpstreamModels listing = models;
        if (!listing.reachable()) {
            return new Health(false, "upstream " + options.url() + ": " + listing.problem());
        }
        long promoted = routedPromoted(listing);
        if (promoted < 0) {
            return new Health(false, "upstream " + options.url() + " serves no version of " + modelId() + " (it lists " + listing.names() + ")");
        }
        long announced = wanted.version;
        if (promoted != announced) {
            return new Health(true, "upstream serves " + upstreamName(promoted, listing) + ", not yet the promoted release " + announced);
        }
        return new Health(true, "upstream serves " + upstreamName(promoted, listing));
    }

    @Override
    public String modelId() {
        return options.versions().modelId();
    }

    /** The promoted release requests go to now: the newest the upstream serves (the announced one once it is loaded). */
    @Override
    public long version() {
        long routed = routedPromoted(models);
        return routed < 0 ? wanted.version : routed;
    }

    @Override
    public long candidateVersion() {
        return routedCandidate(models);
    }

    @Override
    public VersionFollower versions() {
        return follower;
    }

    @Override
    public void onFirstServed(DoubleConsumer listener) {
        firstServed.listen(listener);
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
        if (follower != null) {
            follower.close();
        }
    }

    /** What the job wants served, as the follower decides it; the upstream's listing decides what is routed to. */
    private static final class Wanted implements VersionFollower.Target {
        /** Every release promoted so far, oldest first: the fallbacks when the upstream has lost the newest. */
        final List<Long> promoted = new CopyOnWriteArrayList<>(List.of(0L));
        volatile long version;
        volatile long candidate = VersionFollower.NO_CANDIDATE;

        @Override
        public long version() {
            return version;
        }

        @Override
        public boolean needsFiles() {
            return false;
        }

        @Override
        public void apply(ModelUpdate update, Path dir) {
            if (update.getRestoresVersion() != null) {
                // A rollback: the releases it turned away from are no fallbacks any more.
                promoted.removeIf(v -> v > update.getRestoresVersion());
            }
            promoted.add(update.getVersion());
            version = update.getVersion();
        }

        @Override
        public boolean servesCandidates() {
            return true;
        }

        @Override
        public long candidate() {
            return candidate;
        }

        @Override
        public void applyCandidate(ModelUpdate update, Path dir) {
            candidate = update == null ? VersionFollower.NO_CANDIDATE : update.getVersion();
        }
    }
}
