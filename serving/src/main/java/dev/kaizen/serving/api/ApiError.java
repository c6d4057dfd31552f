package dev.kaizen.serving.api;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A refused request, answered with OpenAI's error shape:
 * {@code {"error": {"message", "type", "param", "code"}}}, so OpenAI clients report it as they would OpenAI's.
 */
public final class ApiError extends RuntimeException {

    private final int status;
    private final String type;
    private final String param;
    private final String code;
    private final Integer retryAfterSeconds;

    public ApiError(int status, String type, String param, String code, String message) {
        this(status, type, param, code, message, null);
    }

    private ApiError(int status, String type, String param, String code, String message, Integer retryAfterSeconds) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** This error, telling the client when to try again (the Retry-After header of a 503). */
    public ApiError retryAfter(int seconds) {
        return new ApiError(status, type, param, code, getMessage(), seconds);
    }

    /** Seconds the client should wait before retrying, or null. */
    public Integer retryAfterSeconds() {
        return retryAfterSeconds;
    }

    public static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, null, message);
    }

    public int status() {
        return status;
    }

    public Map<String, Object> body() {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", getMessage());
        error.put("type", type);
        error.put("param", param);
        error.put("code", code);
        return Map.of("error", error);
    }
}
