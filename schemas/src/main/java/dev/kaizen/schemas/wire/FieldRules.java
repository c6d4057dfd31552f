package dev.kaizen.schemas.wire;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ModelCommand;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ResponseLogged;

/**
 * The rules a decoded record must meet beyond its schema, one method per record type. Each takes
 * {@code latest}, the latest time a record may carry: our clock plus the skew we allow a client's
 * clock, so a client whose clock runs fast cannot push the job's watermark ahead of everyone else's.
 */
public final class FieldRules {

    public static final int MAX_ID_LENGTH = 128;
    public static final int MAX_ATTRIBUTES = 64;
    public static final int MAX_REASON_LENGTH = 1000;
    public static final Instant EARLIEST = Instant.parse("2000-01-01T00:00:00Z");
    /** How far ahead of our clock a client's clock may run before its times are refused, unless configured otherwise. */
    public static final Duration MAX_FUTURE_SKEW = Duration.ofMinutes(5);
    public static final Set<String> ROLES = Set.of("system", "user", "assistant", "tool");

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");

    private FieldRules() {}

    public static Optional<Rejection> feedback(FeedbackEvent e, Instant latest) {
        boolean inlinePrompt = e.getPrompt() != null;
        return first(
                id("event_id", e.getEventId()),
                id("response_id", e.getResponseId()),
                id("user_id", e.getUserId()),
                id("model_id", e.getModelId()),
                time("event_time", e.getEventTime(), latest),
                inlinePrompt == (e.getCompletion() != null) ? Optional.empty()
                        : invalid("completion", "must come together with prompt: send both or neither"),
                inlinePrompt ? messages("prompt", e.getPrompt()) : Optional.empty(),
                e.getAttributes() != null && e.getAttributes().size() > MAX_ATTRIBUTES
                        ? invalid("attributes", "has " + e.getAttributes().size() + " entries, over " + MAX_ATTRIBUTES)
                        : Optional.empty());
    }

    public static Optional<Rejection> response(ResponseLogged r, Instant latest) {
        return first(
                id("response_id", r.getResponseId()),
                id("model_id", r.getModelId()),
                r.getModelVersion() < 0 ? invalid("model_version", "is " + r.getModelVersion() + "; versions start at 0")
                        : Optional.empty(),
                messages("prompt", r.getPrompt()),
                time("created_at", r.getCreatedAt(), latest));
    }

    public static Optional<Rejection> update(ModelUpdate u, Instant latest) {
        return first(
                id("model_id", u.getModelId()),
                u.getVersion() < 1 ? invalid("version", "is " + u.getVersion() + "; versions start at 1") : Optional.empty(),
                u.getParentVersion() < 0 || u.getParentVersion() >= u.getVersion()
                        ? invalid("parent_version", "is " + u.getParentVersion() + "; it must be in [0, version)")
                        : Optional.empty(),
                text("uri", u.getUri()),
                sha256("sha256", u.getSha256()),
                u.getFiles().entrySet().stream()
                        .map(f -> f.getKey().isBlank() ? invalid("files", "has a file with an empty name")
                                : sha256("files[" + f.getKey() + "]", f.getValue()))
                        .flatMap(Optional::stream).findFirst(),
                time("created_at", u.getCreatedAt(), latest),
                u.getFeedbackCount() < 0 ? invalid("feedback_count", "is negative") : Optional.empty(),
                text("base_model", u.getBaseModel()),
                u.getRestoresVersion() != null && (u.getRestoresVersion() < 1 || u.getRestoresVersion() > u.getParentVersion())
                        ? invalid("restores_version", "is " + u.getRestoresVersion() + "; it must be in [1, parent_version]")
                        : Optional.empty());
    }

    public static Optional<Rejection> release(ModelRelease r, Instant latest) {
        return first(
                id("model_id", r.getModelId()),
                r.getVersion() < 1 ? invalid("version", "is " + r.getVersion() + "; versions start at 1") : Optional.empty(),
                r.getPromotedVersion() < 0 || r.getPromotedVersion() >= r.getVersion()
                        ? invalid("promoted_version", "is " + r.getPromotedVersion() + "; it must be in [0, version)") : Optional.empty(),
                r.getCandidateUp() < 0 || r.getCandidateUp() > r.getCandidateVotes()
                        ? invalid("candidate_up", "is " + r.getCandidateUp() + "; it must be in [0, candidate_votes]") : Optional.empty(),
                r.getPromotedUp() < 0 || r.getPromotedUp() > r.getPromotedVotes()
                        ? invalid("promoted_up", "is " + r.getPromotedUp() + "; it must be in [0, promoted_votes]") : Optional.empty(),
                time("decided_at", r.getDecidedAt(), latest),
                r.getReason().length() > MAX_REASON_LENGTH
                        ? invalid("reason", "is " + r.getReason().length() + " characters, over " + MAX_REASON_LENGTH) : Optional.empty());
    }

    public static Optional<Rejection> command(ModelCommand c, Instant latest) {
        return first(
                id("command_id", c.getCommandId()),
                id("model_id", c.getModelId()),
                c.getToVersion() < 1 ? invalid("to_version", "is " + c.getToVersion() + "; versions start at 1") : Optional.empty(),
                time("issued_at", c.getIssuedAt(), latest),
                id("issued_by", c.getIssuedBy()),
                c.getReason() != null && c.getReason().length() > MAX_REASON_LENGTH
                        ? invalid("reason", "is " + c.getReason().length() + " characters, over " + MAX_REASON_LENGTH) : Optional.empty());
    }

    public static Optional<Rejection> deadLetter(DeadLetter d, Instant latest) {
        return first(
                id("source_topic", d.getSourceTopic()),
                text("reason", d.getReason()),
                time("time", d.getTime(), latest));
    }

    // Plain loops here and in id(): every record of the job passes these checks twice (event time, validation).
    @SafeVarargs
    private static Optional<Rejection> first(Optional<Rejection>... checks) {
        for (Optional<Rejection> check : checks) {
            if (check.isPresent()) {
                return check;
            }
        }
        return Optional.empty();
    }

    private static Optional<Rejection> invalid(String field, String detail) {
        return Optional.of(new Rejection.InvalidValue(field, detail));
    }

    private static Optional<Rejection> text(String field, String value) {
        return value == null || value.isBlank() ? Optional.of(new Rejection.MissingField(field)) : Optional.empty();
    }

    static Optional<Rejection> id(String field, String value) {
        if (value == null || value.isBlank()) {
            return Optional.of(new Rejection.MissingField(field));
        }
        if (value.length() > MAX_ID_LENGTH) {
            return Optional.of(new Rejection.FieldTooLong(field, value.length(), MAX_ID_LENGTH));
        }
        // U+FFFD is what Avro leaves where the bytes were not valid UTF-8.
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (Character.isWhitespace(c) || Character.isISOControl(c) || c == 0xFFFD) {
                return Optional.of(new Rejection.InvalidCharacters(field));
            }
        }
        return Optional.empty();
    }

    private static Optional<Rejection> time(String field, Instant value, Instant latest) {
        return value.isBefore(EARLIEST) || value.isAfter(latest)
                ? Optional.of(new Rejection.TimeOutOfRange(field, value, EARLIEST, latest))
                : Optional.empty();
    }

    private static Optional<Rejection> messages(String field, List<ChatMessage> messages) {
        if (messages.isEmpty()) {
            return invalid(field, "has no messages");
        }
        for (int i = 0; i < messages.size(); i++) {
            String role = messages.get(i).getRole();
            if (!ROLES.contains(role)) {
                return invalid(field + "[" + i + "].role", "is '" + role + "'; expected one of " + ROLES);
            }
        }
        return Optional.empty();
    }

    private static Optional<Rejection> sha256(String field, String value) {
        return SHA256.matcher(value).matches() ? Optional.empty()
                : invalid(field, "is not 64 lowercase hex digits");
    }
}
