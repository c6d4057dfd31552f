package dev.kaizen.serving.log;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

import dev.kaizen.serving.follow.KafkaClients;

/**
 * Whether serving can write to Kafka now: the broker answers and the topics it writes exist. Asked
 * every {@link #PERIOD_SECONDS} seconds in the background, so a request is refused at once while
 * Kafka is away instead of waiting out a producer's timeout; each change is logged once. A
 * missing topic is never written to: a producer's look-up would create it with the broker's
 * defaults (7-day retention), not the settings {@code kaizen topics create} gives it.
 */
public final class BrokerWatch implements AutoCloseable {

    public static final int PERIOD_SECONDS = 2;
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(BrokerWatch.class);

    /** What was last seen: null problem when writes can go ahead. */
    public record State(String problem) {
        public boolean writable() {
            return problem == null;
        }
    }

    private final KafkaClients kafka;
    private final List<String> topics;
    private final Admin admin;
    private final ScheduledExecutorService schedule;
    private volatile State state;

    public BrokerWatch(KafkaClients kafka, List<String> topics) {
        this.kafka = kafka;
        this.topics = topics;
        int timeoutMs = PERIOD_SECONDS * 1000;
        this.admin = Admin.create(kafka.config(Map.of(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, timeoutMs,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, timeoutMs)));
        this.state = check();
        this.schedule = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "broker-watch");
            t.setDaemon(true);
            return t;
        });
        schedule.scheduleWithFixedDelay(() -> update(check()), PERIOD_SECONDS, PERIOD_SECONDS, TimeUnit.SECONDS);
        if (!state.writable()) {
            LOG.warn("{}; answers and votes are refused with 503 until it is resolved", state.problem());
        }
    }

    public State state() {
        return state;
    }

    /** A write just failed: refuse the next ones at once until the next look says otherwise. */
    void writeFailed(String problem) {
        update(new State(problem));
    }

    private synchronized void update(State now) {
        if (now.writable() != state.writable()) {
            if (now.writable()) {
                LOG.info("Kafka at {} is reachable again and has {}: taking answers and votes", kafka.bootstrapServers(), topics);
            } else {
                LOG.warn("{}; answers and votes are refused with 503 until it is resolved", now.problem());
            }
        }
        state = now;
    }

    private State check() {
        try {
            Set<String> existing = admin.listTopics().names().get(PERIOD_SECONDS * 2L, TimeUnit.SECONDS);
            List<String> missing = topics.stream().filter(t -> !existing.contains(t)).toList();
            return missing.isEmpty() ? new State(null) : new State("the topics " + missing + " do not exist at " + kafka.bootstrapServers()
                    + "; create them with: kaizen topics create --bootstrap-servers " + kafka.bootstrapServers());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return state;
        } catch (Exception e) {
            return new State("Kafka at " + kafka.bootstrapServers() + " does not answer");
        }
    }

    @Override
    public void close() {
        schedule.shutdownNow();
        admin.close(java.time.Duration.ofSeconds(1));
    }
}
