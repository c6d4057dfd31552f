package dev.kaizen.jobs.continual;

import java.io.Serializable;
import java.time.Duration;
import java.util.Map;

import dev.kaizen.operators.settle.SettleConfig;

/**
 * Everything the continual-kto job is told: where Kafka is (with pass-through client properties
 * for security), its topics, and the bounds of each stage.
 */
public record JobConfig(
        String bootstrapServers,
        Map<String, String> kafkaProperties,
        String groupId,
        Topics topics,
        Duration outOfOrderness,
        Duration idleness,
        SettleConfig settle,
        int userCapPerHour,
        int batchSize,
        Duration batchTimeout,
        Duration transactionTimeout) implements Serializable {

    /** Topic names; the defaults are Kaizen's. */
    public record Topics(String feedback, String responses, String deadLetters, String late) implements Serializable {
        public static Topics defaults() {
            return new Topics("chat-feedback", "chat-responses", "chat-feedback-dlq", "chat-feedback-late");
        }
    }

    public static JobConfig defaults(String bootstrapServers) {
        return new JobConfig(bootstrapServers, Map.of(), "kaizen-continual-kto", Topics.defaults(), Duration.ofSeconds(5),
                Duration.ofSeconds(30), SettleConfig.defaults(), 50, 16, Duration.ofSeconds(60), Duration.ofSeconds(60));
    }
}
