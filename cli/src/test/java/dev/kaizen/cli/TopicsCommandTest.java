package dev.kaizen.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.kaizen.embeddedkafka.EmbeddedKafka;
import dev.kaizen.embeddedkafka.FreePort;
import dev.kaizen.schemas.wire.Topic;
import dev.kaizen.testkit.EmbeddedKafkaExtension;

@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TopicsCommandTest {

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @Test
    void createsEveryTopicOnceWithItsConfig() throws Exception {
        CliRun first = CliRun.of("topics", "create", "--bootstrap-servers", KAFKA.kafka().bootstrapServers(), "--partitions", "4");
        assertThat(first.exitCode()).as(first.err()).isZero();
        assertThat(first.out()).containsPattern("chat-feedback +4 +created").containsPattern("model-updates +1 +created");

        try (Admin admin = KAFKA.kafka().admin()) {
            List<String> names = java.util.Arrays.stream(Topic.values()).map(Topic::topicName).toList();
            Map<String, TopicDescription> topics = admin.describeTopics(names).allTopicNames().get(30, TimeUnit.SECONDS);
            assertThat(topics).hasSize(Topic.values().length);
            assertThat(topics.get("chat-responses").partitions()).hasSize(4);
            assertThat(topics.get("model-updates").partitions()).hasSize(1);
            ConfigResource updates = new ConfigResource(ConfigResource.Type.TOPIC, "model-updates");
            var config = admin.describeConfigs(List.of(updates)).all().get(30, TimeUnit.SECONDS).get(updates);
            assertThat(config.get("retention.ms").value()).isEqualTo("-1");
        }

        CliRun again = CliRun.of("topics", "create", "--bootstrap-servers", KAFKA.kafka().bootstrapServers());
        assertThat(again.exitCode()).isZero();
        assertThat(again.out()).containsPattern("chat-feedback +3 +exists").doesNotContain("created");
    }

    /**
     * A topic made by someone else (here, as a client's look-up would make it) with the broker's 7-day
     * retention: reported, the command fails, and --fix sets what Kaizen needs.
     */
    @Test
    void anExistingTopicWithOtherSettingsIsReportedAndFixedOnRequest() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start(); Admin admin = kafka.admin()) {
            String bootstrap = kafka.bootstrapServers();
            admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic("model-rejections", 1, (short) 1)
                    .configs(Map.of("retention.ms", "604800000")))).all().get(30, TimeUnit.SECONDS);
            CliRun reported = CliRun.of("topics", "create", "--bootstrap-servers", bootstrap);
            assertThat(reported.exitCode()).isEqualTo(1);
            assertThat(reported.out()).containsPattern("model-rejections +1 +exists, DIFFERS: .*retention.ms=604800000 \\(needs -1\\)")
                    .containsPattern("model-updates +1 +created");
            assertThat(reported.err()).contains("rerun with --fix");

            CliRun fixed = CliRun.of("topics", "create", "--bootstrap-servers", bootstrap, "--fix");
            assertThat(fixed.exitCode()).as(fixed.err()).isZero();
            assertThat(fixed.out()).containsPattern("model-rejections +1 +exists, fixed .*retention.ms=604800000");
            ConfigResource rejections = new ConfigResource(ConfigResource.Type.TOPIC, "model-rejections");
            assertThat(admin.describeConfigs(List.of(rejections)).all().get(30, TimeUnit.SECONDS).get(rejections).get("retention.ms").value())
                    .isEqualTo("-1");
            assertThat(CliRun.of("topics", "create", "--bootstrap-servers", bootstrap).exitCode()).isZero();
        }
    }

    @Test
    void anUnreachableBrokerIsOneClearLine() throws Exception {
        int closedPort = FreePort.onLoopback();
        CliRun run = CliRun.of("topics", "create", "--bootstrap-servers", "127.0.0.1:" + closedPort, "--timeout", "2");
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.err()).startsWith("kaizen topics create: no answer from Kafka at 127.0.0.1:" + closedPort).doesNotContain("\tat ");
    }

    @Test
    void aBadPartitionCountIsRefused() {
        CliRun run = CliRun.of("topics", "create", "--bootstrap-servers", KAFKA.kafka().bootstrapServers(), "--partitions", "0");
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.err()).startsWith("kaizen topics create: --partitions must be at least 1");
    }
}
