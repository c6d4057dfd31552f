package dev.kaizen.serving.api;

import java.util.function.Consumer;
import java.util.function.DoubleConsumer;

import dev.kaizen.serving.follow.VersionFollower;

/**
 * What answers the chat API's requests and which versions of the model it serves: Kaizen's own
 * models ({@link dev.kaizen.serving.follow.ModelFollower}) or an OpenAI-compatible server Kaizen
 * stands in front of ({@link dev.kaizen.serving.upstream.UpstreamBackend}). Either way the API
 * tags, logs and counts the answers alike.
 */
public interface ChatBackend extends AutoCloseable {

    String modelId();

    /** The promoted release: what a request outside the canary share starting now would get. */
    long version();

    /** The canary candidate in service, or {@link VersionFollower#NO_CANDIDATE}. */
    long candidateVersion();

    /** The announcements, the job's verdicts and the refusals, as this backend follows them. */
    VersionFollower versions();

    /** Told the seconds from each version's announcement to its first entering service here. */
    void onFirstServed(DoubleConsumer listener);

    /** Why this backend cannot answer now, or what readiness should say about it: {@link Health#ok()} when all is well. */
    Health health();

    /**
     * Picks the version that answers {@code request} (the one its {@code model} names as
     * {@code <model_id>-v<version>}, else the candidate for the canary share, else the promoted
     * release) and holds it until the turn is closed; an {@link ApiError} for a request it cannot take.
     */
    Turn begin(ChatRequest request);

    @Override
    void close();

    /** One request's answer on one version. */
    interface Turn extends AutoCloseable {

        long version();

        /** Produces the answer, handing each piece of text to {@code onPiece} as it comes; an {@link ApiError} if it cannot. */
        Answer answer(Consumer<String> onPiece);

        @Override
        void close();
    }

    /** An answer, why it ended ({@code stop} or {@code length}) and its token counts. */
    record Answer(String text, String finishReason, int promptTokens, int completionTokens) {}

    /** Readiness: {@code ready} false answers 503; {@code detail} (null: none) is shown either way. */
    record Health(boolean ready, String detail) {
        public static Health ok() {
            return new Health(true, null);
        }
    }

    /** {@code <model_id>-v<version>}: how a request names one version, as vLLM's adapters are named. */
    static String versionName(String modelId, long version) {
        return nameSafe(modelId) + "-v" + version;
    }

    /** The model id with characters outside [A-Za-z0-9_.-] as _, as adapter names have it. */
    static String nameSafe(String modelId) {
        return modelId.replaceAll("[^A-Za-z0-9_.-]", "_");
    }
}
