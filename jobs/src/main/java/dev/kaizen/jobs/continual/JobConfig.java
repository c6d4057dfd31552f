package dev.kaizen.jobs.continual;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.JsonSerializer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import org.apache.flink.util.TimeUtils;

import dev.kaizen.operators.settle.SettleConfig;
import dev.kaizen.operators.update.UpdateConfig;

/**
 * Everything the continual-kto job is told, as one YAML file (kaizen.yaml, keys in kebab case,
 * durations as Flink writes them: 500ms, 30s, 10min, 1h): where Kafka is, with pass-through client
 * properties for security; the topics; the bounds of each stage; training (without a base model
 * the job stops at the accumulator, as the pipeline benchmark runs it); and Flink options for the
 * environment. The defaults, documented, are {@value #DEFAULTS} in the jar.
 */
public record JobConfig(
        Kafka kafka,
        Topics topics,
        EventTime eventTime,
        SettleConfig settle,
        int userCapPerHour,
        Batches batches,
        UpdateConfig training,
        Map<String, String> flink) implements Serializable {

    /** Broker list, consumer group (also the prefix of transactional ids), client properties, and the sinks' transaction timeout. */
    public record Kafka(String bootstrapServers, String groupId, Map<String, String> properties, Duration transactionTimeout)
            implements Serializable {}

    /** Topic names. */
    public record Topics(String feedback, String responses, String deadLetters, String late, String modelUpdates,
                         String modelRejections) implements Serializable {}

    /** Watermarks: how far out of order events may come, and when a quiet partition stops holding the watermark back. */
    public record EventTime(Duration outOfOrderness, Duration idleness) implements Serializable {}

    /** A KTO mini-batch leaves when it has {@code size} samples, or at least 2 after {@code timeout}. */
    public record Batches(int size, Duration timeout) implements Serializable {}

    /** Sections whose keys are not ours but Flink's or Kafka's, passed through as they are. */
    private static final java.util.Set<String> OPEN_MAPS = java.util.Set.of("flink", "kafka.properties");

    private static final ObjectMapper YAML = new ObjectMapper(YAMLFactory.builder()
                    .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES).disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER).build())
            .setPropertyNamingStrategy(PropertyNamingStrategies.KEBAB_CASE)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(com.fasterxml.jackson.databind.MapperFeature.ACCEPT_CASE_INSENSITIVE_ENUMS)
            .registerModule(new SimpleModule().addSerializer(Duration.class, new JsonSerializer<>() {
                @Override
                public void serialize(Duration d, JsonGenerator gen, SerializerProvider provider) throws IOException {
                    gen.writeString(TimeUtils.formatWithHighestUnit(d));
                }
            }).addDeserializer(Duration.class, new JsonDeserializer<>() {
                @Override
                public Duration deserialize(JsonParser p, DeserializationContext ctx) throws IOException {
                    try {
                        return TimeUtils.parseDuration(p.getValueAsString());
                    } catch (IllegalArgumentException e) {
                        throw JsonMappingException.from(p, "'" + p.getValueAsString() + "' is not a duration (like 500ms, 30s, 10min, 1h)");
                    }
                }
            }));

    /** The defaults of every option, in the same YAML as a user's file; the file overrides what it names. */
    private static final String DEFAULTS = "kaizen-defaults.yaml";

    /**
     * Reads {@code file} over the defaults, then applies {@code overrides} ("training.learning-rate=1e-4",
     * a dotted path into the YAML). Unknown keys and bad values are refused with the key's path.
     */
    public static JobConfig load(Path file, List<String> overrides) throws IOException {
        ObjectNode tree;
        try (var in = JobConfig.class.getResourceAsStream("/" + DEFAULTS)) {
            tree = (ObjectNode) YAML.readTree(in);
        }
        if (file != null) {
            JsonNode user = YAML.readTree(Files.readString(file));
            if (user != null && !user.isMissingNode()) {
                merge(tree, user, "");
            }
        }
        for (String o : overrides) {
            int eq = o.indexOf('=');
            if (eq < 1) {
                throw new IllegalArgumentException("an override is key=value, not '" + o + "'");
            }
            set(tree, o.substring(0, eq), o.substring(eq + 1));
        }
        try {
            return YAML.treeToValue(tree, JobConfig.class);
        } catch (JsonMappingException e) {
            throw new IllegalArgumentException((file == null ? "configuration" : file.toString()) + ": " + e.getOriginalMessage()
                    + " (at " + path(e) + ")", e);
        }
    }

    private static void merge(ObjectNode into, JsonNode from, String at) {
        from.fields().forEachRemaining(e -> {
            String key = at + e.getKey();
            JsonNode current = into.get(e.getKey());
            if (current == null && !into.has(e.getKey()) && !OPEN_MAPS.contains(at.isEmpty() ? "" : at.substring(0, at.length() - 1))) {
                throw new IllegalArgumentException("unknown option '" + key + "'");
            }
            if (current instanceof ObjectNode obj && e.getValue().isObject()) {
                merge(obj, e.getValue(), key + ".");
            } else {
                into.set(e.getKey(), e.getValue());
            }
        });
    }

    private static void set(ObjectNode tree, String dotted, String value) {
        ObjectNode node = tree;
        String[] keys = dotted.split("\\.");
        int i = 0;
        // Flink and Kafka option names contain dots themselves: the rest of the path is one key there.
        for (; i < keys.length - 1; i++) {
            String prefix = String.join(".", java.util.Arrays.copyOfRange(keys, 0, i + 1));
            if (!(node.get(keys[i]) instanceof ObjectNode child)) {
                throw new IllegalArgumentException("unknown option '" + dotted + "'");
            }
            node = child;
            if (OPEN_MAPS.contains(prefix)) {
                node.put(String.join(".", java.util.Arrays.copyOfRange(keys, i + 1, keys.length)), value);
                return;
            }
        }
        if (!node.has(keys[i])) {
            throw new IllegalArgumentException("unknown option '" + dotted + "'");
        }
        node.set(keys[i], YAML.getNodeFactory().textNode(value));
    }

    private static String path(JsonMappingException e) {
        StringBuilder out = new StringBuilder();
        e.getPath().forEach(ref -> out.append(out.length() == 0 ? "" : ".").append(ref.getFieldName() != null ? ref.getFieldName() : "[" + ref.getIndex() + "]"));
        return out.toString();
    }

    /** This configuration as YAML, in the shape and units of the file it was read from. */
    public String toYaml() {
        try {
            return YAML.writeValueAsString(this);
        } catch (IOException e) {
            throw new IllegalStateException("a configuration that was read must write", e);
        }
    }

    /** Whether the job trains: the update stage runs once a base model is named. */
    public boolean trains() {
        return training != null && training.baseModelDir() != null;
    }
}
