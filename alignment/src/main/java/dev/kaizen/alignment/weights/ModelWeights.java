package dev.kaizen.alignment.weights;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.kaizen.alignment.model.ModelDirectoryException;

/**
 * The weights of a Hugging Face model directory: {@code model.safetensors}, or the shards that
 * {@code model.safetensors.index.json} names, behind one name → tensor view.
 */
public final class ModelWeights implements AutoCloseable {

    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";
    /** Hugging Face's default max_shard_size. */
    public static final long DEFAULT_SHARD_BYTES = 5L * 1000 * 1000 * 1000;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern SHARD = Pattern.compile("model-\\d{5}-of-\\d{5}\\.safetensors");

    private final Path source;
    private final List<SafetensorsFile> files;
    private final Map<String, SafetensorsFile> byName;

    private ModelWeights(Path source, List<SafetensorsFile> files, Map<String, SafetensorsFile> byName) {
        this.source = source;
        this.files = files;
        this.byName = byName;
    }

    public static ModelWeights open(Path dir) {
        Path index = dir.resolve(INDEX_FILE);
        if (!Files.exists(index)) {
            SafetensorsFile file = SafetensorsFile.open(dir.resolve(SINGLE_FILE));
            Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
            file.entries().keySet().forEach(n -> byName.put(n, file));
            return new ModelWeights(file.path(), List.of(file), byName);
        }
        JsonNode weightMap;
        try {
            weightMap = JSON.readTree(Files.readString(index)).path("weight_map");
        } catch (IOException e) {
            throw new ModelDirectoryException(index, "is not valid JSON: " + e.getMessage(), e);
        }
        if (!weightMap.isObject() || weightMap.isEmpty()) {
            throw new ModelDirectoryException(index, "has no weight_map");
        }
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
        try {
            var fields = weightMap.fields();
            while (fields.hasNext()) {
                var f = fields.next();
                String shard = f.getValue().asText();
                if (shard.contains("/") || shard.contains("\\")) {
                    throw new ModelDirectoryException(index, "names shard '" + shard + "' outside the directory");
                }
                SafetensorsFile file = shards.computeIfAbsent(shard, s -> SafetensorsFile.open(dir.resolve(s)));
                if (!file.entries().containsKey(f.getKey())) {
                    throw new ModelDirectoryException(file.path(), "lacks tensor " + f.getKey() + " that " + INDEX_FILE + " puts there");
                }
                byName.put(f.getKey(), file);
            }
        } catch (RuntimeException e) {
            shards.values().forEach(SafetensorsFile::close);
            throw e;
        }
        return new ModelWeights(index, new ArrayList<>(shards.values()), byName);
    }

    /** The file that lists the tensors: model.safetensors, or the shard index. */
    public Path source() {
        return source;
    }

    public Set<String> names() {
        return byName.keySet();
    }

    public SafetensorsFile.Entry entry(String name) {
        return file(name).entries().get(name);
    }

    /** The tensor as an F32 array of {@code manager}; see {@link SafetensorsFile#toNDArray}. */
    public NDArray toNDArray(String name, NDManager manager) {
        return file(name).toNDArray(name, manager);
    }

    /** Where a tensor lives, for error messages. */
    public Path fileOf(String name) {
        return file(name).path();
    }

    private SafetensorsFile file(String name) {
        SafetensorsFile file = byName.get(name);
        if (file == null) {
            throw new IllegalArgumentException("no tensor named " + name);
        }
        return file;
    }

    /**
     * Writes {@code tensors} into {@code dir} as Hugging Face does: one {@code model.safetensors}
     * when they fit in {@code maxShardBytes}, else numbered shards and an index.
     */
    public static void write(Path dir, Map<String, Tensor> tensors, long maxShardBytes) throws IOException {
        Files.createDirectories(dir);
        Map<String, String> metadata = Map.of("format", "pt");
        List<Map<String, Tensor>> shards = new ArrayList<>();
        Map<String, Tensor> current = new LinkedHashMap<>();
        long currentBytes = 0;
        long total = 0;
        for (var e : new TreeMap<>(tensors).entrySet()) {
            long size = (long) e.getValue().values().length * e.getValue().dtype().bytes();
            if (!current.isEmpty() && currentBytes + size > maxShardBytes) {
                shards.add(current);
                current = new LinkedHashMap<>();
                currentBytes = 0;
            }
            current.put(e.getKey(), e.getValue());
            currentBytes += size;
            total += size;
        }
        shards.add(current);
        deleteWeights(dir);
        if (shards.size() == 1) {
            SafetensorsWriter.write(dir.resolve(SINGLE_FILE), shards.get(0), metadata);
            return;
        }
        Map<String, String> weightMap = new TreeMap<>();
        for (int i = 0; i < shards.size(); i++) {
            String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
            SafetensorsWriter.write(dir.resolve(name), shards.get(i), metadata);
            shards.get(i).keySet().forEach(t -> weightMap.put(t, name));
        }
        Map<String, Object> index = Map.of("metadata", Map.of("total_size", total), "weight_map", weightMap);
        Files.writeString(dir.resolve(INDEX_FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(index) + "\n");
    }

    /** Removes an earlier save's weights, so shards of a larger model cannot linger beside new ones. */
    private static void deleteWeights(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                if (name.equals(SINGLE_FILE) || name.equals(INDEX_FILE) || SHARD.matcher(name).matches()) {
                    Files.delete(f);
                }
            }
        }
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }
}
