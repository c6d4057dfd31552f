package dev.kaizen.serving;

import dev.kaizen.serving.api.ChatServer;
import dev.kaizen.serving.api.RecentShare;
import dev.kaizen.serving.follow.ModelFollower;
import dev.kaizen.serving.log.FeedbackLog;

/**
 * One serving instance: the model follower, the log of answers and votes (on the same Kafka),
 * and the HTTP server over both; started together and closed in the reverse order.
 */
public final class Serving implements AutoCloseable {

    /** The model to follow, the topics answers and votes go to, and where to listen. */
    public record Options(ModelFollower.Options model, String responsesTopic, String feedbackTopic, ChatServer.Options http) {}

    private final ModelFollower follower;
    private final FeedbackLog log;
    private final ChatServer server;

    private Serving(ModelFollower follower, FeedbackLog log, ChatServer server) {
        this.follower = follower;
        this.log = log;
        this.server = server;
    }

    public static Serving start(Options options) {
        ModelFollower follower = ModelFollower.start(options.model());
        FeedbackLog log = null;
        try {
            log = new FeedbackLog(options.model().versions().kafka(), options.responsesTopic(), options.feedbackTopic());
            return new Serving(follower, log, new ChatServer(follower, log, options.http()).start());
        } catch (RuntimeException e) {
            if (log != null) {
                log.close();
            }
            follower.close();
            throw e;
        }
    }

    public ModelFollower follower() {
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
        follower.close();
    }
}
