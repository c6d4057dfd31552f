package dev.kaizen.schemas.wire;

import java.time.Duration;
import java.time.Instant;

/**
 * Why a record went to the dead-letter topic: every reason any stage gives, in one sealed type.
 * {@link #code()} is the {@code reason} string on the topic and the metric variable, stable
 * across releases; {@link #message()} is the {@code detail} a person can act on.
 */
public sealed interface DeadLetterReason permits Rejection, DeadLetterReason.UnknownResponse, DeadLetterReason.UserCap,
        DeadLetterReason.UnknownModel, DeadLetterReason.UnknownVersion {

    /** Stable, machine-readable reason, e.g. {@code unknown-schema}. */
    String code();

    /** What is wrong, naming the field or bytes at fault. */
    String message();

    /** {@code code: message}, for logs and error replies. */
    default String describe() {
        return code() + ": " + message();
    }

    /** A settled vote about an answer that never arrived on the responses topic. */
    record UnknownResponse(String responseId, Duration responseWait) implements DeadLetterReason {
        public String code() { return "unknown-response"; }
        public String message() {
            return "no answer with response_id " + responseId + " arrived within " + responseWait + " of the vote becoming final";
        }
    }

    /** A settled vote over its user's hourly cap for the model. */
    record UserCap(String userId, String modelId, int limit, Instant hour) implements DeadLetterReason {
        public String code() { return "user-cap"; }
        public String message() {
            return "user " + userId + " already gave " + limit + " samples to model " + modelId + " in the hour from " + hour;
        }
    }

    /** A command about a model the job has not released yet. */
    record UnknownModel(String modelId) implements DeadLetterReason {
        public String code() { return "unknown-model"; }
        public String message() {
            return "model " + modelId + " has no release to roll back";
        }
    }

    /** A rollback to a version that is not an earlier release of its model still in the store. */
    record UnknownVersion(String modelId, long version, long current, long oldestKept) implements DeadLetterReason {
        public String code() { return "unknown-version"; }
        public String message() {
            return "model " + modelId + " cannot roll back to version " + version + ": its current version is " + current
                    + " and the releases it can go back to are " + oldestKept + " to " + (current - 1);
        }
    }
}
