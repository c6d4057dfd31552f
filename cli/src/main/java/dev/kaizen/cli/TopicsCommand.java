package dev.kaizen.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.kaizen.schemas.wire.Topic;

@Command(name = "topics", description = "Manage Kaizen's Kafka topics.",
        mixinStandardHelpOptions = true, subcommands = TopicsCommand.Create.class)
final class TopicsCommand {

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = "Create Kaizen's topics (chat-responses, chat-feedback, the dead-letter and late topics, "
                    + "model-updates, model-rejections, model-commands, model-releases). A topic that exists is checked: settings that differ from what Kaizen "
                    + "needs (model-updates keeps every version for ever) are reported, and set with --fix.")
    static final class Create implements java.util.concurrent.Callable<Integer> {

        /** Votes and answers scale with traffic; the other topics are small and keep one total order. */
        private static final Set<Topic> TRAFFIC_TOPICS = Set.of(Topic.CHAT_RESPONSES, Topic.CHAT_FEEDBACK);

        @Spec
        CommandSpec spec;

        @Option(names = "--bootstrap-servers", required = true, paramLabel = "HOST:PORT[,...]",
                description = "Kafka brokers to connect to.")
        String bootstrapServers;

        @Option(names = "--partitions", defaultValue = "3", paramLabel = "N",
                description = "Partitions of chat-responses and chat-feedback (default: ${DEFAULT-VALUE}); the others get 1.")
        int partitions;

        @Option(names = "--replication-factor", defaultValue = "-1", paramLabel = "R",
                description = "Replicas of each partition (default: the broker's default.replication.factor).")
        short replicationFactor;

        @Option(names = "--command-config", paramLabel = "FILE",
                description = "Properties file of extra Kafka client settings (security, SASL), as for Kafka's own tools.")
        Path commandConfig;

        @Option(names = "--fix", description = "Set the settings of existing topics that differ from what Kaizen needs.")
        boolean fix;

        @Option(names = "--timeout", defaultValue = "30", paramLabel = "SECONDS",
                description = "How long to wait for the brokers (default: ${DEFAULT-VALUE}).")
        int timeoutSeconds;

        @Override
        public Integer call() throws Exception {
            if (partitions < 1) {
                throw new IllegalArgumentException("--partitions must be at least 1, not " + partitions);
            }
            PrintWriter out = spec.commandLine().getOut();
            try (Admin admin = Admin.create(clientConfig())) {
                awaitCluster(admin);
                out.printf("%-20s %10s  %s%n", "TOPIC", "PARTITIONS", "STATUS");
                int differing = 0;
                for (Topic topic : Topic.values()) {
                    int n = TRAFFIC_TOPICS.contains(topic) ? partitions : 1;
                    NewTopic request = new NewTopic(topic.topicName(), Optional.of(n), Optional.of(replicationFactor))
                            .configs(topic.configs());
                    String status = create(admin, request);
                    if (status.equals("exists")) {
                        Map<String, String> wrong = differences(admin, topic);
                        if (!wrong.isEmpty() && fix) {
                            admin.incrementalAlterConfigs(Map.of(resource(topic), topic.configs().entrySet().stream()
                                    .filter(e -> wrong.containsKey(e.getKey()))
                                    .map(e -> new AlterConfigOp(new ConfigEntry(e.getKey(), e.getValue()), AlterConfigOp.OpType.SET))
                                    .toList())).all().get(timeoutSeconds, TimeUnit.SECONDS);
                            status = "exists, fixed " + describe(topic, wrong);
                        } else if (!wrong.isEmpty()) {
                            status = "exists, DIFFERS: " + describe(topic, wrong);
                            differing++;
                        }
                    }
                    out.printf("%-20s %10d  %s%n", topic.topicName(), n, status);
                }
                if (differing > 0) {
                    out.flush();
                    spec.commandLine().getErr().printf("kaizen topics create: %d topic(s) differ from what Kaizen needs; "
                            + "rerun with --fix to set them%n", differing);
                    return 1;
                }
            }
            return 0;
        }

        /** The required settings the existing topic has otherwise, with the value it has. */
        private Map<String, String> differences(Admin admin, Topic topic) throws Exception {
            Config actual = admin.describeConfigs(List.of(resource(topic))).all().get(timeoutSeconds, TimeUnit.SECONDS).get(resource(topic));
            Map<String, String> wrong = new TreeMap<>();
            topic.configs().forEach((key, needed) -> {
                ConfigEntry entry = actual.get(key);
                String value = entry == null ? null : entry.value();
                if (!needed.equals(value)) {
                    wrong.put(key, String.valueOf(value));
                }
            });
            return wrong;
        }

        private static String describe(Topic topic, Map<String, String> wrong) {
            return wrong.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue() + " (needs " + topic.configs().get(e.getKey()) + ")")
                    .collect(java.util.stream.Collectors.joining(", "));
        }

        private static ConfigResource resource(Topic topic) {
            return new ConfigResource(ConfigResource.Type.TOPIC, topic.topicName());
        }

        private void awaitCluster(Admin admin) throws Exception {
            try {
                admin.describeCluster().nodes().get(timeoutSeconds, TimeUnit.SECONDS);
            } catch (ExecutionException | TimeoutException e) {
                throw new IllegalStateException("no answer from Kafka at " + bootstrapServers + " within "
                        + timeoutSeconds + " s", e);
            }
        }

        private String create(Admin admin, NewTopic request) throws Exception {
            try {
                admin.createTopics(List.of(request)).all().get(timeoutSeconds, TimeUnit.SECONDS);
                return "created";
            } catch (ExecutionException e) {
                if (e.getCause() instanceof TopicExistsException) {
                    return "exists";
                }
                throw new IllegalStateException("cannot create " + request.name() + " on " + bootstrapServers
                        + ": " + e.getCause().getMessage(), e.getCause());
            } catch (TimeoutException e) {
                throw new IllegalStateException("Kafka at " + bootstrapServers + " did not create " + request.name()
                        + " within " + timeoutSeconds + " s", e);
            }
        }

        private Properties clientConfig() throws IOException {
            Properties config = new Properties();
            if (commandConfig != null) {
                if (!Files.isRegularFile(commandConfig) || !Files.isReadable(commandConfig)) {
                    throw new IllegalArgumentException("--command-config " + commandConfig + " is not a readable file");
                }
                try (InputStream in = Files.newInputStream(commandConfig)) {
                    config.load(in);
                }
            }
            config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
            int timeoutMs = (int) TimeUnit.SECONDS.toMillis(timeoutSeconds);
            config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, timeoutMs);
            config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, Math.min(timeoutMs, 30_000));
            return config;
        }
    }
}
