package dev.kaizen.serving;

import dev.kaizen.serving.api.ChatBackend;
import dev.kaizen.serving.api.ChatServer;
import dev.kaizen.serving.api.RecentShare;
import dev.kaizen.serving.follow.KafkaClients;
import dev.kaizen.serving.follow.ModelFollower;
import dev.kaizen.serving.log.FeedbackLog;
import dev.kaizen.serving.upstream.UpstreamBackend;

/**
 * One serving instance: what answers (the model follower, or an upstream server Kaizen stands in
 * front of), the log of answers and votes (on the same Kafka), and the HTTP server over both;
 * started together and closed in the reverse order.
 */
public final class Serving implements AutoCloseable {

    /** The model to follow, the topics answers and votes go to, and where to listen. */
    public record Options(ModelFollower.Options model, String responsesTopic, String feedbackTopic, ChatServer.Options http) {}

    private final ChatBackend backend;
    private final FeedbackLog log;
    private final ChatServer server;

    private Serving(ChatBackend backend, FeedbackLog log, ChatServer server) {
        this.backend = backend;
        this.log = log;
        this.server = server;
    }

    /** Serving's own models answer. */
    public static Serving start(Options options) {
        return start(ModelFollower.start(options.model()), options.model().versions().kafka(), options.responsesTopic(),
                options.feedbackTopic(), options.http());
    }

    /** An OpenAI-compatible server answers; Kaizen routes, tags, logs and counts. */
    public static Serving gateway(UpstreamBackend.Options upstream, String responsesTopic, String feedbackTopic, ChatServer.Options http) {
        return start(UpstreamBackend.start(upstream), upstream.versions().kafka(), responsesTopic, feedbackTopic, http);
    }

    private static Serving start(ChatBackend backend, KafkaClients kafka, String responsesTopic, String feedbackTopic, ChatServer.Options http) {
        FeedbackLog log = null;
        try {
            log = new FeedbackLog(kafka, responsesTopic, feedbackTopic);
            return new Serving(backend, log, new ChatServer(backend, log, http).start());
        } catch (RuntimeException e) {
            if (log != null) {
                log.close();
            }
            backend.close();
            throw e;
        }
    }

    /** What answers: serving's own models or the upstream. */
    public ChatBackend backend() {
        return backend;
    }

    /** Serving's own models; only for an instance started by {@link #start(Options)}. */
    public ModelFollower follower() {
        if (!(backend instanceof ModelFollower follower)) {
            throw new IllegalStateException("this instance answers from an upstream server, not with models of its own");
        }
        return follower;
    }

    /** The latest votes taken through the API. */
    public RecentShare recentVotes() {
        return server.recentVotes();
    }

    /** The port the HTTP server listens on. */
    public int port() {
        return server.port();
    }

    @Override
    public void close() {
        server.close();
        log.close();
        backend.close();
    }
}
