package dev.kaizen.cli;

import java.util.HashMap;
import java.util.Map;

import picocli.CommandLine.Option;

import dev.kaizen.serving.follow.KafkaClients;

/** Where Kafka is, with client properties passed through for a secured cluster. */
final class KafkaOptions {

    @Option(names = "--bootstrap-servers", required = true, paramLabel = "HOST:PORT", description = "Kafka.")
    String bootstrapServers;

    @Option(names = "--kafka-property", paramLabel = "KEY=VALUE",
            description = "A Kafka client property passed through (security.protocol, sasl.*, ssl.* …); repeatable.")
    Map<String, String> properties = new HashMap<>();

    KafkaClients clients() {
        return new KafkaClients(bootstrapServers, properties);
    }
}
