package dev.kaizen.serving.api;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.javalin.http.Context;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;

/**
 * Reads a request body as a hostile client may send it. The bytes are read as they arrive (the
 * servlet's non-blocking reads), so a client that trickles its body holds no thread and every
 * other request keeps being served; the whole body must arrive within {@code deadline}; and the
 * size limit holds for the bytes that actually arrive, whatever the framing (a chunked body
 * declares no length).
 */
final class RequestBody {

    /** The client went away while its request was read or its answer written: nobody is there to answer. */
    static final class ClientGone extends RuntimeException {
        ClientGone(Throwable cause) {
            super("the client closed the connection", cause);
        }
    }

    private final long maxBytes;
    private final Duration deadline;
    private final ObjectMapper json;

    RequestBody(long maxBytes, Duration deadline, ObjectMapper json) {
        this.maxBytes = maxBytes;
        this.deadline = deadline;
        this.json = json;
    }

    /** The body, once it has all arrived, as one JSON value with nothing after it; else a 4xx naming what is wrong. */
    CompletableFuture<JsonNode> json(Context ctx) {
        return bytes(ctx).thenApply(this::parse);
    }

    private JsonNode parse(byte[] bytes) {
        try (JsonParser parser = json.createParser(bytes)) {
            JsonNode value = json.readTree(parser);
            if (value == null) {
                throw ApiError.invalid(null, "the body is empty; a JSON object is expected");
            }
            JsonLocation end = parser.currentLocation();
            try {
                if (parser.nextToken() != null) {
                    throw trailing(end);
                }
            } catch (JsonProcessingException e) {
                throw trailing(end);
            }
            return value;
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            throw ApiError.invalid(null, "the body is not valid JSON" + (at == null ? "" : " (line " + at.getLineNr()
                    + ", column " + at.getColumnNr() + ")"));
        } catch (IOException e) {
            throw new IllegalStateException("reading a byte array cannot fail", e);
        }
    }

    private static ApiError trailing(JsonLocation end) {
        return ApiError.invalid(null, "the body has more after its JSON value, which ends at line " + end.getLineNr()
                + ", column " + end.getColumnNr());
    }

    /** Needs the request in async mode: call it inside {@code ctx.future(...)}. */
    private CompletableFuture<byte[]> bytes(Context ctx) {
        CompletableFuture<byte[]> body = new CompletableFuture<>();
        if (ctx.contentLength() > maxBytes) {
            body.completeExceptionally(tooLarge());
            return body;
        }
        try {
            ServletInputStream in = ctx.req().getInputStream();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            in.setReadListener(new ReadListener() {
                private final byte[] buffer = new byte[8192];

                @Override
                public void onDataAvailable() throws IOException {
                    while (!body.isDone() && in.isReady()) {
                        int n = in.read(buffer);
                        if (n == -1) {
                            return;
                        }
                        out.write(buffer, 0, n);
                        if (out.size() > maxBytes) {
                            body.completeExceptionally(tooLarge());
                        }
                    }
                }

                @Override
                public void onAllDataRead() {
                    body.complete(out.toByteArray());
                }

                @Override
                public void onError(Throwable t) {
                    // Jetty's idle timeout ends a read that waits too long: the client is too slow, not gone.
                    boolean slow = t instanceof TimeoutException || t.getCause() instanceof TimeoutException;
                    body.completeExceptionally(slow ? new TimeoutException() : new ClientGone(t));
                }
            });
        } catch (IOException e) {
            body.completeExceptionally(new ClientGone(e));
        }
        return body.orTimeout(deadline.toMillis(), TimeUnit.MILLISECONDS).exceptionally(e -> {
            Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
            if (cause instanceof TimeoutException) {
                throw new ApiError(408, "invalid_request_error", null, "request_timeout",
                        "the request body did not arrive within " + deadline.toSeconds() + " s");
            }
            throw cause instanceof RuntimeException r ? r : new CompletionException(cause);
        });
    }

    private ApiError tooLarge() {
        return new ApiError(413, "invalid_request_error", null, "request_too_large", "the body is over " + maxBytes + " bytes");
    }
}
