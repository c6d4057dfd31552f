package dev.kaizen.jobs.continual;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
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
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.util.TimeUtils;

import dev.kaizen.operators.canary.CanaryRule;
import dev.kaizen.operators.release.ReleaseConfig;
import dev.kaizen.operators.update.StoreRetention;
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
        ReleaseConfig release,
        Canary canary,
        Store store,
        Map<String, String> flink) implements Serializable {

    /** Broker list, consumer group (also the prefix of transactional ids), client properties, and the sinks' transaction timeout. */
    public record Kafka(String bootstrapServers, String groupId, Map<String, String> properties, Duration transactionTimeout)
            implements Serializable {}

    /** Topic names. */
    public record Topics(String feedback, String responses, String deadLetters, String late, String modelUpdates,
                         String modelRejections, String modelCommands, String modelReleases) implements Serializable {}

    /**
     * Watermarks: how far out of order events may come, when a quiet partition stops holding the
     * watermark back, and how far ahead of the job's clock a time may lie before it is dead-lettered.
     */
    public record EventTime(Duration outOfOrderness, Duration idleness, Duration maxFutureSkew) implements Serializable {}

    /** A KTO mini-batch leaves when it has {@code size} samples, or at least 2 after {@code timeout}. */
    public record Batches(int size, Duration timeout) implements Serializable {}

    /**
     * Whether each release is tried as a canary before it is promoted, and the {@link CanaryRule}
     * that judges it (votes at which it looks, its error rate, the margin it tolerates).
     */
    public record Canary(boolean enabled, int minVotes, int lookEvery, int maxVotes, double alpha, double margin) implements Serializable {

        /** The rule, or null when releases are promoted as they are announced. */
        public CanaryRule rule() {
            return enabled ? new CanaryRule(minVotes, lookEvery, maxVotes, alpha, margin) : null;
        }
    }

    /** The checkpoint store keeps each model's last {@code keepReleases} releases (and what rollbacks and retained Flink checkpoints need). */
    public record Store(int keepReleases) implements Serializable {}

    /** What the store keeps, given the Flink configuration the job runs under (how many Flink checkpoints it retains). */
    public StoreRetention retention(ReadableConfig flinkConfig) {
        return new StoreRetention(store.keepReleases(), flinkConfig.get(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS));
    }

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
        String source = file == null ? "configuration" : file.toString();
        ObjectNode tree;
        try (var in = JobConfig.class.getResourceAsStream("/" + DEFAULTS)) {
            tree = (ObjectNode) YAML.readTree(in);
        }
        if (file != null) {
            JsonNode user = read(file);
            if (user != null && !user.isMissingNode() && !user.isNull()) {
                if (!user.isObject()) {
                    throw new IllegalArgumentException(source + ": must be a mapping of options (kafka:, training: ...), not "
                            + user.getNodeType().name().toLowerCase(java.util.Locale.ROOT));
                }
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
        JobConfig config;
        try {
            config = YAML.treeToValue(tree, JobConfig.class);
        } catch (JsonMappingException e) {
            throw new IllegalArgumentException(source + ": " + e.getOriginalMessage() + " (at " + path(e) + ")", e);
        }
        List<String> problems = config.problems();
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(source + ": " + String.join("; ", problems));
        }
        return config;
    }

    /** The user's YAML, with a missing file or a syntax error reported by file and line. */
    private static JsonNode read(Path file) throws IOException {
        try {
            return YAML.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": no such file");
        } catch (JsonProcessingException e) {
            var at = e.getLocation();
            String problem = e.getOriginalMessage().lines().findFirst().orElse("not YAML");
            throw new IllegalArgumentException(file + (at == null ? "" : ":" + at.getLineNr()) + ": not valid YAML: " + problem);
        }
    }

    /**
     * What no run could do well with, each naming its option: values that would train the wrong
     * way or not at all, Flink keys Flink does not know (it would ignore them), and a Kafka
     * transaction timeout that a checkpoint could outlast.
     */
    List<String> problems() {
        List<String> out = new ArrayList<>();
        positive(out, "training.learning-rate", training.learningRate());
        positive(out, "training.beta", training.beta());
        positive(out, "training.kl-budget", training.klBudget());
        positive(out, "training.lora-alpha", training.loraAlpha());
        if (training.loraRank() < 1) {
            out.add("option 'training.lora-rank' must be at least 1, not " + training.loraRank());
        }
        if (!(training.loraDropout() >= 0 && training.loraDropout() < 1)) {
            out.add("option 'training.lora-dropout' must lie in [0, 1), not " + training.loraDropout());
        }
        if (training.maxLength() < 2) {
            out.add("option 'training.max-length' must be at least 2, not " + training.maxLength());
        }
        if (release.everySteps() < 1) {
            out.add("option 'release.every-steps' must be at least 1, not " + release.everySteps());
        }
        if (!(release.maxGoldenNllIncrease() >= 0) || Double.isInfinite(release.maxGoldenNllIncrease())) {
            out.add("option 'release.max-golden-nll-increase' must be a non-negative number, not " + release.maxGoldenNllIncrease());
        }
        if (!(release.maxAnswerLengthFactor() >= 1) || Double.isInfinite(release.maxAnswerLengthFactor())) {
            out.add("option 'release.max-answer-length-factor' must be a number of at least 1, not " + release.maxAnswerLengthFactor());
        }
        if (!(release.minDistinct2Ratio() >= 0 && release.minDistinct2Ratio() <= 1)) {
            out.add("option 'release.min-distinct2-ratio' must lie in [0, 1], not " + release.minDistinct2Ratio());
        }
        if (!(release.holdoutFraction() >= 0 && release.holdoutFraction() < 1)) {
            out.add("option 'release.holdout-fraction' must lie in [0, 1), not " + release.holdoutFraction());
        }
        if (release.holdoutSize() < 2) {
            out.add("option 'release.holdout-size' must be at least 2, not " + release.holdoutSize());
        }
        if (!(release.maxHoldoutLossIncrease() >= 0) || Double.isInfinite(release.maxHoldoutLossIncrease())) {
            out.add("option 'release.max-holdout-loss-increase' must be a non-negative number, not " + release.maxHoldoutLossIncrease());
        }
        if (canary.minVotes() < 1 || canary.lookEvery() < 1 || canary.maxVotes() < canary.minVotes()) {
            out.add("options 'canary.min-votes', 'canary.look-every' and 'canary.max-votes' must satisfy 1 <= min-votes <= max-votes "
                    + "and look-every >= 1, not " + canary.minVotes() + ", " + canary.lookEvery() + " and " + canary.maxVotes());
        }
        if (!(canary.alpha() > 0 && canary.alpha() < 0.5)) {
            out.add("option 'canary.alpha' must lie in (0, 0.5), not " + canary.alpha());
        }
        if (!(canary.margin() >= 0 && canary.margin() < 1)) {
            out.add("option 'canary.margin' must lie in [0, 1), not " + canary.margin());
        }
        if (store.keepReleases() < 1) {
            out.add("option 'store.keep-releases' must be at least 1 (the newest release is what serving loads), not " + store.keepReleases());
        }
        if (batches.size() < 2) {
            out.add("option 'batches.size' must be at least 2 (KTO's reference point needs a pair), not " + batches.size());
        }
        if (userCapPerHour < 1) {
            out.add("option 'user-cap-per-hour' must be at least 1, not " + userCapPerHour);
        }
        // Durations cannot be negative (Flink's parser refuses them); these cannot be zero either.
        for (var d : Map.of("batches.timeout", batches.timeout(), "event-time.idleness", eventTime.idleness(), "release.max-wait", release.maxWait(),
                "kafka.transaction-timeout", kafka.transactionTimeout()).entrySet()) {
            if (d.getValue().isZero()) {
                out.add("option '" + d.getKey() + "' must be positive, not 0");
            }
        }
        flink.keySet().stream().filter(k -> !FlinkOptions.accepts(k)).sorted()
                .forEach(k -> out.add("'flink." + k + "' is not a Flink option"));
        transactionTimeoutProblem(Configuration.fromMap(flink)).ifPresent(out::add);
        return out;
    }

    /**
     * A Kafka transaction stays open from one checkpoint to the next: if a checkpoint may take
     * longer than the transaction may live, the broker aborts it and the job restarts for ever.
     */
    public java.util.Optional<String> transactionTimeoutProblem(ReadableConfig flinkConfig) {
        Duration interval = flinkConfig.getOptional(CheckpointingOptions.CHECKPOINTING_INTERVAL).orElse(Duration.ZERO);
        Duration timeout = flinkConfig.get(CheckpointingOptions.CHECKPOINTING_TIMEOUT);
        Duration needed = interval.plus(timeout);
        return kafka.transactionTimeout().compareTo(needed) > 0 ? java.util.Optional.empty()
                : java.util.Optional.of("option 'kafka.transaction-timeout' (" + TimeUtils.formatWithHighestUnit(kafka.transactionTimeout())
                        + ") must exceed the checkpoint interval plus the checkpoint timeout (" + TimeUtils.formatWithHighestUnit(interval)
                        + " + " + TimeUtils.formatWithHighestUnit(timeout) + ")");
    }

    private static void positive(List<String> out, String key, double value) {
        if (!(value > 0) || Double.isInfinite(value)) {
            out.add("option '" + key + "' must be a positive number, not " + value);
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
