package dev.kaizen.serving.follow;

import java.util.HashMap;
import java.util.Map;

/**
 * How serving reaches Kafka: the bootstrap servers and any client properties passed through as
 * they are (security.protocol, sasl.*, ssl.* …), so a secured cluster works as it does for the job.
 */
public record KafkaClients(String bootstrapServers, Map<String, String> properties) {

    public static KafkaClients of(String bootstrapServers) {
        return new KafkaClients(bootstrapServers, Map.of());
    }

    /**
     * A consumer's configuration: as {@link #config}, and it never creates a topic by looking it up
     * (a topic made that way gets the broker's default retention, not the one Kaizen needs).
     */
    public Map<String, Object> consumerConfig(Map<String, Object> own) {
        Map<String, Object> config = config(own);
        config.put("allow.auto.create.topics", false);
        return config;
    }

    /** A client's configuration: the pass-through properties, then this client's own settings over them. */
    public Map<String, Object> config(Map<String, Object> own) {
        Map<String, Object> config = new HashMap<>(properties);
        config.put("bootstrap.servers", bootstrapServers);
        config.putAll(own);
        return config;
    }
}
