package dev.kaizen.serving.api;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import io.javalin.http.staticfiles.Location;
import io.javalin.json.JavalinJackson;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.eclipse.jetty.server.ConnectionLimit;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.ServerConnector;

import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.FieldRules;
import dev.kaizen.serving.follow.VersionFollower;
import dev.kaizen.serving.log.BrokerWatch;
import dev.kaizen.serving.log.FeedbackLog;

/**
 * The HTTP face of serving: OpenAI's chat completions (plain and server-sent events), votes,
 * the versions, health and Prometheus metrics. Every answer names the version that wrote it
 * ({@code model} = {@code <model_id>@<version>} and the {@value #VERSION_HEADER} header) and is
 * logged to the responses topic before it is handed out, so a vote on it can be joined.
 */
public final class ChatServer implements AutoCloseable {

    public static final String VERSION_HEADER = "X-Kaizen-Model-Version";
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ChatServer.class);
    private static final Set<String> VOTES = Set.of("up", "down", "clear");
    private static final Set<String> ROUTES = Set.of("/v1/chat/completions", "/v1/feedback", "/v1/models", "/v1/stats", "/healthz",
            "/readyz", "/metrics", "/");
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A request's body must arrive whole within this. */
    public static final Duration BODY_DEADLINE = Duration.ofSeconds(10);
    /** A connection silent this long is closed; longer than the body deadline, so a slow body is answered 408 first. */
    public static final Duration IDLE_TIMEOUT = BODY_DEADLINE.multipliedBy(3);
    /** Connections held open at once; more wait in the operating system's queue until one closes. */
    public static final int MAX_CONNECTIONS = 1024;
    /** How long a client should wait before retrying while Kafka is away: the broker watch looks again by then. */
    private static final int KAFKA_RETRY_AFTER_SECONDS = 2 * BrokerWatch.PERIOD_SECONDS;
    private static final String CLIENT_GONE = "client-gone";

    /** Where to listen, the bearer token every route asks for (null: none), and the largest body taken. */
    public record Options(String host, int port, String bearerToken, long maxBodyBytes) {

        /** Whether anyone beyond this machine can reach the server. */
        public boolean beyondLoopback() {
            try {
                return !java.net.InetAddress.getByName(host).isLoopbackAddress();
            } catch (java.net.UnknownHostException e) {
                return true;
            }
        }
    }

    private final ChatBackend backend;
    private final FeedbackLog log;
    private final Options options;
    private final Javalin app;
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Counter requests;
    private final Histogram latency;
    private final Counter votes;
    private final VoteTally tally = new VoteTally(100_000);
    private final RecentShare recent = new RecentShare();
    private final RequestBody bodies;

    public ChatServer(ChatBackend backend, FeedbackLog log, Options options) {
        this.backend = backend;
        this.log = log;
        this.options = options;
        this.bodies = new RequestBody(options.maxBodyBytes(), BODY_DEADLINE, JSON);
        requests = Counter.builder().name("kaizen_http_requests_total").help("HTTP requests by route and status")
                .labelNames("route", "status").register(registry);
        latency = Histogram.builder().name("kaizen_http_request_duration_seconds").help("HTTP request time by route")
                .labelNames("route").register(registry);
        votes = Counter.builder().name("kaizen_feedback_total").help("Votes taken by /v1/feedback").labelNames("vote").register(registry);
        GaugeWithCallback.builder().name("kaizen_answer_votes")
                .help("Current thumbs up and down on this replica's latest answers, by the version that wrote them")
                .labelNames("version", "vote").callback(cb -> tally.rates().forEach(r -> {
                    cb.call(r.up(), Long.toString(r.version()), "up");
                    cb.call(r.down(), Long.toString(r.version()), "down");
                })).register(registry);
        GaugeWithCallback.builder().name("kaizen_model_version").help("The promoted release: the version most requests get")
                .callback(cb -> cb.call(backend.version())).register(registry);
        GaugeWithCallback.builder().name("kaizen_model_candidate_version").help("The canary candidate in service beside it, -1 for none")
                .callback(cb -> cb.call(backend.candidateVersion())).register(registry);
        CounterWithCallback.builder().name("kaizen_model_swaps_total").help("Versions swapped in")
                .callback(cb -> cb.call(backend.versions().applied())).register(registry);
        backend.onFirstServed(Histogram.builder().name("kaizen_model_announced_to_served_seconds")
                .help("From a version's announcement (its created_at) to its first entering service on this replica")
                .classicOnly().classicUpperBounds(1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 300, 600).register(registry)::observe);
        GaugeWithCallback.builder().name("kaizen_backend_ready")
                .help("1 while what answers (serving's own models, or the upstream server) can take requests, else 0")
                .callback(cb -> cb.call(backend.health().ready() ? 1 : 0)).register(registry);
        CounterWithCallback.builder().name("kaizen_model_refusals_total").help("Announced versions refused, by reason")
                .labelNames("reason").callback(cb -> backend.versions().refusals().forEach((reason, n) -> cb.call(n, reason))).register(registry);
        app = Javalin.create(config -> {
            config.showJavalinBanner = false;
            config.http.prefer405over404 = true;
            config.jsonMapper(new JavalinJackson(JSON, false));
            // The chat page, its assets and Chart.js (a WebJar from Maven Central): static, no data in them.
            config.staticFiles.add("/public", Location.CLASSPATH);
            config.staticFiles.enableWebjars();
            config.jetty.modifyServer(server -> {
                server.setErrorHandler(new JsonErrorHandler());
                server.addBean(new ConnectionLimit(MAX_CONNECTIONS, server));
            });
            config.jetty.modifyHttpConfiguration(http -> http.setSendServerVersion(false));
            config.jetty.addConnector((server, http) -> {
                ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(http));
                connector.setHost(options.host());
                connector.setPort(options.port());
                connector.setIdleTimeout(IDLE_TIMEOUT.toMillis());
                return connector;
            });
            config.requestLogger.http((ctx, ms) -> {
                // Labelled by known route only, so stray paths cannot grow the metric without bound.
                String route = ROUTES.contains(ctx.path()) ? ctx.path() : "other";
                String status = ctx.attribute(CLIENT_GONE) != null ? "client_closed" : Integer.toString(ctx.statusCode());
                requests.labelValues(route, status).inc();
                latency.labelValues(route).observe(ms / 1000.0);
            });
        });
        app.before(this::authorize);
        // A body is read as it arrives, holding no thread; the route runs once it is all there.
        app.post("/v1/chat/completions", ctx -> ctx.future(() -> bodies.json(ctx).thenAccept(body -> chat(ctx, body))));
        app.post("/v1/feedback", ctx -> ctx.future(() -> bodies.json(ctx).thenAccept(body -> feedback(ctx, body))));
        app.get("/v1/models", this::models);
        app.get("/v1/stats", this::stats);
        app.get("/healthz", ctx -> ctx.json(Map.of("status", "ok", "model", backend.modelId(), "version", backend.version())));
        app.get("/readyz", this::ready);
        app.get("/metrics", this::metrics);
        app.exception(ApiError.class, ChatServer::refuse);
        app.exception(FeedbackLog.Unavailable.class, (e, ctx) -> refuse(new ApiError(503, "server_error", null, "kafka_unavailable",
                e.getMessage() + "; retry shortly").retryAfter(KAFKA_RETRY_AFTER_SECONDS), ctx));
        // Nobody is left to answer: counted under its own label, not as a server failure.
        app.exception(RequestBody.ClientGone.class, (e, ctx) -> {
            LOG.debug("{} {}: {}", ctx.method(), ctx.path(), e.getMessage());
            ctx.attribute(CLIENT_GONE, true);
        });
        // Not the client's fault: still OpenAI's error shape, and the cause in the log, not in the answer.
        app.exception(Exception.class, (e, ctx) -> {
            LOG.error("{} {} failed", ctx.method(), ctx.path(), e);
            ctx.status(500).json(new ApiError(500, "server_error", null, null, "the server failed; its log says why").body());
        });
        app.exception(HttpResponseException.class, (e, ctx) -> {
            String type = e.getStatus() == 401 ? "authentication_error" : "invalid_request_error";
            ApiError error = new ApiError(e.getStatus(), type, null, null, e.getMessage());
            ctx.status(e.getStatus()).json(error.body());
        });
        app.error(404, ctx -> notFound(ctx, "no route " + ctx.method() + " " + ctx.path()));
        app.error(405, ctx -> ctx.json(new ApiError(405, "invalid_request_error", null, null,
                ctx.method() + " is not allowed on " + ctx.path()).body()));
    }

    private static void refuse(ApiError e, Context ctx) {
        if (e.retryAfterSeconds() != null) {
            ctx.header("Retry-After", e.retryAfterSeconds().toString());
        }
        if (e.status() == 401) {
            ctx.header("WWW-Authenticate", "Bearer realm=\"kaizen\"");
        }
        ctx.status(e.status()).json(e.body());
    }

    public ChatServer start() {
        app.start();
        if (options.bearerToken() == null && options.beyondLoopback()) {
            LOG.warn("listening on {}:{} without a bearer token: anyone who can reach it can chat and vote; pass --token-env VAR",
                    options.host(), port());
        }
        return this;
    }

    /** The latest votes taken here, whoever cast them. */
    public RecentShare recentVotes() {
        return recent;
    }

    /** The port listened on (useful when started on port 0). */
    public int port() {
        return app.port();
    }

    private void authorize(Context ctx) {
        if (options.bearerToken() == null || isOpen(ctx.path())) {
            return;
        }
        String given = ctx.header("Authorization");
        // The scheme's name is case-insensitive (RFC 9110); the token is compared in constant time.
        String token = given != null && given.length() > 7 && given.regionMatches(true, 0, "Bearer ", 0, 7) ? given.substring(7).trim() : null;
        if (token == null || !MessageDigest.isEqual(token.getBytes(StandardCharsets.UTF_8), options.bearerToken().getBytes(StandardCharsets.UTF_8))) {
            throw new ApiError(401, "authentication_error", null, "invalid_api_key", "a valid 'Authorization: Bearer <token>' header is required");
        }
    }

    /**
     * The page and its assets hold no data, and the page sends the token on every API call it
     * makes; readiness says only whether serving can take requests, so probes need no token.
     */
    private static boolean isOpen(String path) {
        return path.equals("/") || path.equals("/index.html") || path.startsWith("/assets/") || path.startsWith("/webjars/")
                || path.equals("/readyz");
    }

    /** Ready when the backend can answer and Kafka takes answers and votes; 503 otherwise, with the reason. */
    private void ready(Context ctx) {
        BrokerWatch.State kafka = log.state();
        ChatBackend.Health model = backend.health();
        boolean ready = kafka.writable() && model.ready();
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("status", ready ? "ready" : "not_ready");
        body.put("model", model.detail() == null ? "loaded" : model.detail());
        body.put("kafka", kafka.writable() ? "ok" : kafka.problem());
        ctx.status(ready ? 200 : 503).json(body);
    }

    private void chat(Context ctx, JsonNode body) {
        ChatRequest request = ChatRequest.parse(body, ThreadLocalRandom.current().nextLong());
        log.requireWritable();
        try (ChatBackend.Turn turn = backend.begin(request)) {
            String id = "chatcmpl-" + UUID.randomUUID();
            String model = backend.modelId() + "@" + turn.version();
            long created = Instant.now().getEpochSecond();
            ctx.header(VERSION_HEADER, Long.toString(turn.version()));
            if (request.stream()) {
                stream(ctx, turn, request, id, model, created);
                return;
            }
            ChatBackend.Answer answer = turn.answer(piece -> {});
            logAnswer(id, turn.version(), request, answer.text());
            Map<String, Object> reply = new LinkedHashMap<>();
            reply.put("id", id);
            reply.put("object", "chat.completion");
            reply.put("created", created);
            reply.put("model", model);
            reply.put("choices", List.of(Map.of("index", 0, "message", Map.of("role", "assistant", "content", answer.text()),
                    "finish_reason", answer.finishReason())));
            reply.put("usage", usage(answer.promptTokens(), answer.completionTokens()));
            ctx.json(reply);
        }
    }

    /**
     * Server-sent events as OpenAI streams them: a role delta, content deltas, the finish reason, then
     * [DONE]. The role delta goes with the first piece, so a backend that fails before answering
     * (an upstream that refuses) is still answered with an error status.
     */
    private void stream(Context ctx, ChatBackend.Turn turn, ChatRequest request, String id, String model, long created) {
        ctx.contentType("text/event-stream");
        ctx.header("Cache-Control", "no-cache");
        ctx.status(200);
        boolean[] started = {false};
        try {
            OutputStream out = ctx.res().getOutputStream();
            ChatBackend.Answer answer;
            try {
                answer = turn.answer(piece -> {
                    try {
                        begin(out, started, id, model, created);
                        event(out, chunk(id, model, created, Map.of("content", piece), null));
                    } catch (IOException e) {
                        throw new RequestBody.ClientGone(e);
                    }
                });
            } catch (ApiError e) {
                if (!started[0]) {
                    throw e;
                }
                // Mid-answer the status is sent: the failure goes in the stream, as OpenAI reports one.
                event(out, e.body());
                return;
            }
            begin(out, started, id, model, created);
            logAnswer(id, turn.version(), request, answer.text());
            event(out, chunk(id, model, created, Map.of(), answer.finishReason()));
            if (request.includeUsage()) {
                // As OpenAI sends it: one last chunk with no choices and the usage of the whole answer.
                Map<String, Object> last = chunk(id, model, created, Map.of(), null);
                last.put("choices", List.of());
                last.put("usage", usage(answer.promptTokens(), answer.completionTokens()));
                event(out, last);
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            throw new RequestBody.ClientGone(e);
        }
    }

    /** The role delta, once, before anything else of the stream. */
    private static void begin(OutputStream out, boolean[] started, String id, String model, long created) throws IOException {
        if (!started[0]) {
            started[0] = true;
            event(out, chunk(id, model, created, Map.of("role", "assistant", "content", ""), null));
        }
    }

    private static Map<String, Object> usage(int prompt, int completion) {
        return Map.of("prompt_tokens", prompt, "completion_tokens", completion, "total_tokens", prompt + completion);
    }

    private static Map<String, Object> chunk(String id, String model, long created, Map<String, Object> delta, String finish) {
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("index", 0);
        choice.put("delta", delta);
        choice.put("finish_reason", finish);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("id", id);
        body.put("object", "chat.completion.chunk");
        body.put("created", created);
        body.put("model", model);
        body.put("choices", List.of(choice));
        return body;
    }

    private static void event(OutputStream out, Map<String, Object> data) throws IOException {
        out.write(("data: " + JSON.writeValueAsString(data) + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private void logAnswer(String id, long version, ChatRequest request, String completion) {
        List<ChatMessage> prompt = new ArrayList<>();
        request.messages().forEach(m -> prompt.add(new ChatMessage(m.role(), m.content())));
        log.answer(ResponseLogged.newBuilder().setResponseId(id).setModelId(backend.modelId()).setModelVersion(version)
                .setPrompt(prompt).setCompletion(completion).setCreatedAt(Instant.now()).build());
        tally.answered(id, version);
    }

    private void feedback(Context ctx, JsonNode body) {
        log.requireWritable();
        String vote = body.path("vote").asText("");
        if (!VOTES.contains(vote)) {
            throw ApiError.invalid("vote", "'vote' must be one of up, down, clear");
        }
        String eventId = body.hasNonNull("event_id") ? body.get("event_id").asText() : UUID.randomUUID().toString();
        // Missing ids become empty ones, which the field rules refuse by name like any other bad id.
        FeedbackEvent event = FeedbackEvent.newBuilder().setEventId(eventId).setResponseId(body.path("response_id").asText(""))
                .setUserId(body.path("user_id").asText("")).setModelId(backend.modelId()).setVote(Vote.valueOf(vote.toUpperCase()))
                .setEventTime(Instant.now()).setPrompt(null).setCompletion(null).setAttributes(null).build();
        FieldRules.feedback(event, Instant.now().plus(FieldRules.MAX_FUTURE_SKEW)).ifPresent(rejection -> {
            throw new ApiError(400, "invalid_request_error", rejection.field(), rejection.code(), rejection.message());
        });
        log.vote(event);
        votes.labelValues(vote).inc();
        tally.vote(event.getResponseId(), event.getUserId(), vote.equals("clear") ? null : vote.equals("up"));
        if (!vote.equals("clear")) {
            recent.add(vote.equals("up"));
        }
        ctx.status(202).json(Map.of("event_id", eventId, "status", "accepted"));
    }

    private void models(Context ctx) {
        // Read once, so that every entry names the same promoted release and candidate.
        long promoted = backend.version();
        long candidate = backend.candidateVersion();
        Map<Long, ModelRelease> decisions = backend.versions().decisions();
        List<Map<String, Object>> data = new ArrayList<>();
        data.add(model(0, null, promoted, candidate, decisions));
        for (ModelUpdate u : backend.versions().announced()) {
            data.add(model(u.getVersion(), u, promoted, candidate, decisions));
        }
        // The versions in service also under the names a request can ask for them by (as vLLM lists its
        // adapters), so another Kaizen serve can stand in front of this one.
        for (long v : candidate == VersionFollower.NO_CANDIDATE ? List.of(promoted) : List.of(promoted, candidate)) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", ChatBackend.versionName(backend.modelId(), v));
            m.put("object", "model");
            m.put("created", 0);
            m.put("owned_by", "kaizen");
            m.put("root", backend.modelId() + "@" + v);
            data.add(m);
        }
        ctx.json(Map.of("object", "list", "data", data));
    }

    /**
     * One version as OpenAI lists a model, with Kaizen's fields: its role ("promoted", "candidate"
     * or null), whether it was announced as a canary, and the job's verdict on it (null: none).
     */
    private Map<String, Object> model(long version, ModelUpdate u, long promoted, long candidate, Map<Long, ModelRelease> decisions) {
        ModelRelease verdict = decisions.get(version);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", backend.modelId() + "@" + version);
        m.put("object", "model");
        m.put("created", u == null ? 0 : u.getCreatedAt().getEpochSecond());
        m.put("owned_by", "kaizen");
        m.put("version", version);
        m.put("parent", u == null ? null : u.getParentVersion());
        m.put("feedback_count", u == null ? 0 : u.getFeedbackCount());
        m.put("metrics", u == null ? Map.of() : u.getMetrics());
        m.put("sha256", u == null ? null : u.getSha256());
        m.put("serving", version == promoted || version == candidate);
        m.put("role", version == promoted ? "promoted" : version == candidate ? "candidate" : null);
        m.put("canary", u != null && u.getCanary());
        m.put("decision", verdict == null ? null : decision(verdict));
        m.put("decision_reason", verdict == null ? null : verdict.getReason());
        return m;
    }

    /** A verdict as the API writes it: "promote" or "rollback". */
    private static String decision(ModelRelease verdict) {
        return verdict.getDecision().name().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * Thumbs-up rate per version over the answers given here, and what the page marks: rollbacks (a
     * version restoring an earlier one), refused candidates and the canary's verdicts.
     */
    private void stats(Context ctx) {
        List<Map<String, Object>> versions = new ArrayList<>();
        for (VoteTally.Rate r : tally.rates()) {
            versions.add(Map.of("version", r.version(), "up", r.up(), "down", r.down(), "rate", r.rate()));
        }
        List<Map<String, Object>> rollbacks = backend.versions().announced().stream().filter(u -> u.getRestoresVersion() != null)
                .map(u -> Map.<String, Object>of("version", u.getVersion(), "restores", u.getRestoresVersion())).toList();
        List<Map<String, Object>> refused = backend.versions().refusedCandidates().stream()
                .map(u -> Map.<String, Object>of("after", u.getParentVersion(), "reason", u.getRejectionReason())).toList();
        List<Map<String, Object>> decisions = backend.versions().decisions().values().stream()
                .map(d -> Map.<String, Object>of("version", d.getVersion(), "decision", decision(d), "reason", d.getReason())).toList();
        ctx.json(Map.of("model", backend.modelId(), "serving", backend.version(), "candidate", backend.candidateVersion(),
                "versions", versions, "rollbacks", rollbacks, "refused", refused, "decisions", decisions));
    }

    private void metrics(Context ctx) throws IOException {
        ctx.contentType(PrometheusTextFormatWriter.CONTENT_TYPE);
        new PrometheusTextFormatWriter(false).write(ctx.res().getOutputStream(), registry.scrape());
    }

    private static void notFound(Context ctx, String message) {
        ctx.json(new ApiError(404, "invalid_request_error", null, "not_found", message).body());
    }

    @Override
    public void close() {
        app.stop();
    }
}
