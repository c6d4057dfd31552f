package dev.kaizen.serving.rollout;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.commons.io.FileUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.kaizen.schemas.CheckpointFormat;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.serving.api.ChatBackend;
import dev.kaizen.serving.follow.VersionFollower;

/**
 * Rolls each verified adapter into a vLLM server through its runtime LoRA API: the files go to
 * {@code adapterDir/<model_id>-v<version>} (a directory the vLLM server reads), then
 * {@code POST /v1/load_lora_adapter} names them {@code <model_id>-v<version>}; only once that load
 * succeeded is the previous version unloaded. A failed load is retried; if it keeps failing the
 * version is refused and the previous adapter stays loaded. A canary candidate is loaded beside the
 * promoted release the same way (a gateway, {@code serve --upstream}, routes its share of users to
 * it) and unloaded when the job rolls it back; promoted, it is already loaded. vLLM must run with
 * {@code VLLM_ALLOW_RUNTIME_LORA_UPDATING=True} and {@code --enable-lora} ({@code --max-loras} 2 or more).
 */
public final class VllmRollout implements VersionFollower.Target {

    private static final Logger LOG = LoggerFactory.getLogger(VllmRollout.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The vLLM server, where adapters are put for it, its API key (null: none), and how loads are retried. */
    public record Options(URI url, Path adapterDir, String modelId, String apiKey, int attempts, Duration backoff) {}

    private final Options options;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private volatile long version;
    private volatile long candidate = VersionFollower.NO_CANDIDATE;
    private String loaded;
    private String loadedCandidate;

    public VllmRollout(Options options) {
        this.options = options;
    }

    /** The adapter name vLLM serves a version under: clients ask for it as their {@code model}. */
    public static String name(String modelId, long version) {
        return ChatBackend.versionName(modelId, version);
    }

    @Override
    public long version() {
        return version;
    }

    @Override
    public void apply(ModelUpdate update, Path dir) throws IOException, InterruptedException {
        String name = name(options.modelId(), update.getVersion());
        if (!name.equals(loadedCandidate)) {
            put(update, dir, name);
        }
        if (loaded != null && !loaded.equals(loadedCandidate)) {
            unload(loaded);
        }
        loaded = name;
        version = update.getVersion();
    }

    @Override
    public boolean servesCandidates() {
        return true;
    }

    @Override
    public long candidate() {
        return candidate;
    }

    @Override
    public void applyCandidate(ModelUpdate update, Path dir) throws IOException, InterruptedException {
        String name = update == null ? null : name(options.modelId(), update.getVersion());
        if (name != null) {
            put(update, dir, name);
        }
        // A candidate that was promoted stays loaded: it is the promoted release now.
        if (loadedCandidate != null && !loadedCandidate.equals(loaded) && !loadedCandidate.equals(name)) {
            unload(loadedCandidate);
        }
        loadedCandidate = name;
        candidate = update == null ? VersionFollower.NO_CANDIDATE : update.getVersion();
    }

    /** Copies the verified files where vLLM reads them (once per version) and loads them under {@code name}. */
    private void put(ModelUpdate update, Path dir, String name) throws IOException, InterruptedException {
        if (update.getFormat() != CheckpointFormat.ADAPTER) {
            throw new IOException("vLLM's runtime LoRA API takes adapters; version " + update.getVersion() + " is " + update.getFormat());
        }
        Path target = options.adapterDir().resolve(name);
        if (!Files.isDirectory(target)) {
            Path staging = options.adapterDir().resolve("." + name + ".staging");
            FileUtils.deleteQuietly(staging.toFile());
            FileUtils.copyDirectory(dir.toFile(), staging.toFile());
            Files.move(staging, target);
        }
        load(name, target);
    }

    /** The new adapter serves already: failing to unload the old one only leaves it loaded. */
    private void unload(String name) throws IOException, InterruptedException {
        HttpResponse<String> r = post("/v1/unload_lora_adapter", Map.of("lora_name", name));
        if (r.statusCode() / 100 != 2) {
            LOG.warn("vLLM did not unload {} ({}: {})", name, r.statusCode(), r.body());
        }
    }

    private void load(String name, Path path) throws IOException, InterruptedException {
        String last = "";
        for (int attempt = 1; attempt <= options.attempts(); attempt++) {
            try {
                HttpResponse<String> r = post("/v1/load_lora_adapter", Map.of("lora_name", name, "lora_path", path.toString()));
                if (r.statusCode() / 100 == 2) {
                    LOG.info("vLLM loaded {} from {}", name, path);
                    return;
                }
                last = r.statusCode() + ": " + r.body();
            } catch (IOException e) {
                last = e.toString();
            }
            LOG.warn("vLLM did not load {} (attempt {} of {}): {}", name, attempt, options.attempts(), last);
            if (attempt < options.attempts()) {
                Thread.sleep(options.backoff().toMillis() * attempt);
            }
        }
        throw new IOException("vLLM did not load " + name + " after " + options.attempts() + " attempts; last answer " + last);
    }

    private HttpResponse<String> post(String path, Map<String, String> body) throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(options.url().resolve(path)).timeout(Duration.ofMinutes(2))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
        if (options.apiKey() != null) {
            request.header("Authorization", "Bearer " + options.apiKey());
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }
}
