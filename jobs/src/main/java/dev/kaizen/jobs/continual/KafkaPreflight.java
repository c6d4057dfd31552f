package dev.kaizen.jobs.continual;

import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the job checks of Kafka before it starts. A broker that does not answer is said at once
 * (the job starts anyway, and its clients keep retrying as Kafka clients do); topics that do not
 * exist stop the start, since a sink's producer would create them with the broker's defaults.
 */
final class KafkaPreflight {

    private static final Logger LOG = LoggerFactory.getLogger(KafkaPreflight.class);
    private static final int TIMEOUT_SECONDS = 5;

    private KafkaPreflight() {}

    static void check(JobConfig c, Properties clientProperties) {
        Properties props = new Properties();
        props.putAll(clientProperties);
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, c.kafka().bootstrapServers());
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, TIMEOUT_SECONDS * 1000);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, TIMEOUT_SECONDS * 1000);
        Set<String> existing;
        try (Admin admin = Admin.create(props)) {
            existing = admin.listTopics().names().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        } catch (Exception e) {
            LOG.warn("Kafka at {} does not answer within {} s; the job starts anyway, and its sources fail over and retry "
                    + "until it does (watch the job's numRestarts)", c.kafka().bootstrapServers(), TIMEOUT_SECONDS);
            return;
        }
        List<String> missing = List.of(c.topics().feedback(), c.topics().responses(), c.topics().deadLetters(), c.topics().late(),
                c.topics().modelUpdates(), c.topics().modelRejections(), c.topics().modelCommands(), c.topics().modelReleases()).stream().filter(t -> !existing.contains(t)).toList();
        if (!missing.isEmpty()) {
            throw new IllegalStateException("the topics " + missing + " do not exist at " + c.kafka().bootstrapServers()
                    + "; create them with: kaizen topics create --bootstrap-servers " + c.kafka().bootstrapServers());
        }
    }
}
