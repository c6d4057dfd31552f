package dev.kaizen.serving.api;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;

import dev.kaizen.alignment.generate.SamplingParams;
import dev.kaizen.alignment.tokenize.ChatTemplate;

/** The part of OpenAI's chat completion request that Kaizen honours, read and checked field by field. */
public record ChatRequest(List<ChatTemplate.Message> messages, SamplingParams sampling, boolean stream) {

    private static final Set<String> ROLES = Set.of("system", "user", "assistant");
    static final int DEFAULT_MAX_TOKENS = 128;

    /** Reads a request body; anything malformed is an {@link ApiError} naming the field. */
    public static ChatRequest parse(JsonNode body, long defaultSeed) {
        if (body == null || !body.isObject()) {
            throw ApiError.invalid(null, "the body must be a JSON object");
        }
        JsonNode messages = body.get("messages");
        if (messages == null || !messages.isArray() || messages.isEmpty()) {
            throw ApiError.invalid("messages", "'messages' must be a non-empty array");
        }
        List<ChatTemplate.Message> parsed = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            String role = m.path("role").asText(null);
            if (role == null || !ROLES.contains(role)) {
                throw ApiError.invalid("messages[" + i + "].role", "'messages[" + i + "].role' must be one of " + ROLES);
            }
            if (!m.path("content").isTextual()) {
                throw ApiError.invalid("messages[" + i + "].content", "'messages[" + i + "].content' must be a string");
            }
            parsed.add(new ChatTemplate.Message(role, m.get("content").asText()));
        }
        if (body.has("n") && body.get("n").asInt(-1) != 1) {
            throw ApiError.invalid("n", "only n = 1 is supported");
        }
        int maxTokens = integer(body, body.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens", DEFAULT_MAX_TOKENS, 1);
        double temperature = number(body, "temperature", 1.0, 0, 2);
        double topP = number(body, "top_p", 1.0, 0, 1);
        if (topP == 0) {
            throw ApiError.invalid("top_p", "'top_p' must be greater than 0");
        }
        long seed = body.has("seed") ? integer(body, "seed", 0, Integer.MIN_VALUE) : defaultSeed;
        List<String> stop = new ArrayList<>();
        JsonNode s = body.get("stop");
        if (s != null && s.isTextual()) {
            stop.add(s.asText());
        } else if (s != null && s.isArray() && s.size() <= 4) {
            s.forEach(x -> stop.add(x.asText()));
        } else if (s != null && !s.isNull()) {
            throw ApiError.invalid("stop", "'stop' must be a string or an array of up to 4 strings");
        }
        JsonNode stream = body.get("stream");
        if (stream != null && !stream.isBoolean() && !stream.isNull()) {
            throw ApiError.invalid("stream", "'stream' must be true or false");
        }
        return new ChatRequest(parsed, new SamplingParams(maxTokens, temperature, 0, topP, seed, stop, true),
                stream != null && stream.asBoolean());
    }

    private static int integer(JsonNode body, String field, int fallback, int min) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() < min) {
            throw ApiError.invalid(field, "'" + field + "' must be an integer of at least " + min);
        }
        return v.asInt();
    }

    private static double number(JsonNode body, String field, double fallback, double min, double max) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isNumber() || v.asDouble() < min || v.asDouble() > max) {
            throw ApiError.invalid(field, "'" + field + "' must be a number from " + min + " to " + max);
        }
        return v.asDouble();
    }
}
