package dev.kaizen.serving.api;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.handler.ErrorHandler;

/**
 * What Jetty answers itself, before a request reaches a route (a malformed request, a URI or
 * headers over its limits, a body that arrives too slowly), in OpenAI's error shape like every
 * other error, instead of Jetty's HTML page.
 */
final class JsonErrorHandler extends ErrorHandler {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<Integer, String> CODES = Map.of(400, "bad_request", 408, "request_timeout", 413, "request_too_large",
            414, "uri_too_long", 431, "headers_too_large");

    @Override
    public ByteBuffer badMessageError(int status, String reason, HttpFields.Mutable fields) {
        fields.put(HttpHeader.CONTENT_TYPE, "application/json");
        return ByteBuffer.wrap(body(status, reason));
    }

    @Override
    protected void generateAcceptableResponse(Request baseRequest, HttpServletRequest request, HttpServletResponse response,
                                              int code, String message) throws IOException {
        baseRequest.setHandled(true);
        response.setContentType("application/json");
        response.getOutputStream().write(body(code, message));
    }

    private static byte[] body(int status, String reason) {
        String message = reason == null || reason.isBlank() ? HttpStatus.getMessage(status) : reason;
        ApiError error = new ApiError(status, status < 500 ? "invalid_request_error" : "server_error", null,
                CODES.getOrDefault(status, "http_" + status), message);
        try {
            return JSON.writeValueAsBytes(error.body());
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("an error body is plain strings", e);
        }
    }
}
