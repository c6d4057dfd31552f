package dev.kaizen.serving.api;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;

import dev.kaizen.alignment.generate.SamplingParams;
import dev.kaizen.alignment.tokenize.ChatTemplate;

/**
 * The part of OpenAI's chat completion request that Kaizen honours, read and checked field by
 * field; {@code includeUsage} is {@code stream_options.include_usage}; {@code user} is OpenAI's
 * end-user id (null when absent), which keeps a user's conversations on one release during a canary;
 * {@code model} is the request's model name as sent (null when absent); {@code seeded}, whether the
 * sampling's seed is the request's own (else a random one was drawn).
 */
public record ChatRequest(List<ChatTemplate.Message> messages, SamplingParams sampling, boolean stream, boolean includeUsage, String user,
                          String model, boolean seeded) {

    /** OpenAI's newer models take instructions as 'developer'; chat templates know them as 'system'. */
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant");
    static final int DEFAULT_MAX_TOKENS = 128;
    private static final int MAX_USER_LENGTH = 256;

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
            parsed.add(new ChatTemplate.Message(role.equals("developer") ? "system" : role, content(m.get("content"), i)));
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
        } else if (s != null && s.isArray() && s.size() <= 4 && allText(s)) {
            s.forEach(x -> stop.add(x.asText()));
        } else if (s != null && !s.isNull()) {
            throw ApiError.invalid("stop", "'stop' must be a string or an array of up to 4 strings");
        }
        // An empty stop string would end every answer before its first token: clients send it to mean none.
        stop.removeIf(String::isEmpty);
        boolean stream = flag(body, "stream", "stream");
        JsonNode options = body.get("stream_options");
        if (options != null && !options.isNull() && !options.isObject()) {
            throw ApiError.invalid("stream_options", "'stream_options' must be an object");
        }
        boolean includeUsage = options != null && options.isObject() && flag(options, "include_usage", "stream_options.include_usage");
        JsonNode user = body.get("user");
        if (user != null && !user.isNull() && (!user.isTextual() || user.asText().length() > MAX_USER_LENGTH)) {
            throw ApiError.invalid("user", "'user' must be a string of at most " + MAX_USER_LENGTH + " characters");
        }
        String userId = user == null || user.isNull() || user.asText().isEmpty() ? null : user.asText();
        JsonNode model = body.get("model");
        if (model != null && !model.isNull() && !model.isTextual()) {
            throw ApiError.invalid("model", "'model' must be a string");
        }
        return new ChatRequest(parsed, new SamplingParams(maxTokens, temperature, 0, topP, seed, stop, true), stream, includeUsage, userId,
                model == null || model.isNull() ? null : model.asText(), body.has("seed"));
    }

    /**
     * The version this request names as its {@code model}, {@code <model_id>-v<version>}
     * ({@link ChatBackend#versionName}); empty when it names none (any other model name is taken as
     * a name for the model as a whole, as before).
     */
    public OptionalLong version(String modelId) {
        String prefix = ChatBackend.nameSafe(modelId) + "-v";
        if (model == null || !model.startsWith(prefix) || model.length() == prefix.length() || model.length() > prefix.length() + 18) {
            return OptionalLong.empty();
        }
        String digits = model.substring(prefix.length());
        return digits.chars().allMatch(Character::isDigit) ? OptionalLong.of(Long.parseLong(digits)) : OptionalLong.empty();
    }

    /** A message's content: a string, or OpenAI's list of parts, of which Kaizen's models read the text ones. */
    private static String content(JsonNode content, int i) {
        String field = "messages[" + i + "].content";
        if (content != null && content.isTextual()) {
            return content.asText();
        }
        if (content == null || !content.isArray()) {
            throw ApiError.invalid(field, "'" + field + "' must be a string or an array of text parts");
        }
        StringBuilder text = new StringBuilder();
        for (int j = 0; j < content.size(); j++) {
            JsonNode part = content.get(j);
            if (!part.path("type").asText("").equals("text") || !part.path("text").isTextual()) {
                throw ApiError.invalid(field + "[" + j + "]", "'" + field + "[" + j + "]' must be {\"type\": \"text\", \"text\": ...};"
                        + " this model reads text only");
            }
            text.append(part.get("text").asText());
        }
        return text.toString();
    }

    private static boolean allText(JsonNode array) {
        for (JsonNode x : array) {
            if (!x.isTextual()) {
                return false;
            }
        }
        return true;
    }

    private static boolean flag(JsonNode body, String field, String param) {
        JsonNode v = body.get(field);
        if (v != null && !v.isBoolean() && !v.isNull()) {
            throw ApiError.invalid(param, "'" + param + "' must be true or false");
        }
        return v != null && v.asBoolean();
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
