package dev.kaizen.serving.upstream;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * What an OpenAI-compatible server serves, as its {@code GET /v1/models} lists it: the model names
 * and the base model its adapters name as their {@code parent} (vLLM's listing), or why it could not
 * be read.
 */
record UpstreamModels(Set<String> names, String base, String problem) {

    private static final ObjectMapper JSON = new ObjectMapper();

    static final UpstreamModels NOT_YET = new UpstreamModels(Set.of(), null, "not asked yet");

    boolean reachable() {
        return problem == null;
    }

    boolean serves(String name) {
        return names.contains(name);
    }

    /** Asks {@code url}'s {@code /v1/models}; any failure is this listing's problem, never an exception. */
    static UpstreamModels read(HttpClient http, URI url, String token, Duration timeout) {
        try {
            HttpRequest.Builder request = HttpRequest.newBuilder(url.resolve("/v1/models")).timeout(timeout).GET();
            if (token != null) {
                request.header("Authorization", "Bearer " + token);
            }
            HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() != 200) {
                return new UpstreamModels(Set.of(), null, "GET /v1/models answered " + response.statusCode());
            }
            Set<String> names = new LinkedHashSet<>();
            String base = null;
            for (JsonNode model : JSON.readTree(response.body()).path("data")) {
                names.add(model.path("id").asText());
                if (base == null && model.path("parent").isTextual()) {
                    base = model.get("parent").asText();
                }
            }
            return new UpstreamModels(Set.copyOf(names), base, null);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new UpstreamModels(Set.of(), null, "interrupted");
        } catch (IOException | RuntimeException e) {
            return new UpstreamModels(Set.of(), null, "unreachable (" + e + ")");
        }
    }
}
