package dev.kaizen.serving.follow;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;

import org.junit.jupiter.api.Test;

class KafkaClientsTest {

    @Test
    void passedThroughPropertiesReachTheClientButNeverOverrideWhatServingNeeds() {
        KafkaClients kafka = new KafkaClients("broker:9093", Map.of("security.protocol", "SASL_SSL",
                "isolation.level", "read_uncommitted", "bootstrap.servers", "elsewhere:1"));
        assertThat(kafka.config(Map.of("isolation.level", "read_committed"))).containsOnly(
                Map.entry("security.protocol", "SASL_SSL"), Map.entry("isolation.level", "read_committed"),
                Map.entry("bootstrap.servers", "broker:9093"));
    }
}
