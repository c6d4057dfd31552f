package dev.kaizen.embeddedkafka;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * A Kafka broker at {@code bootstrapServers()}, in this JVM ({@link EmbeddedKafka}) or another
 * process, with what tests do to it: create topics, send, read what is committed.
 */
public class Broker {

    private final String bootstrapServers;

    public Broker(String bootstrapServers) {
        this.bootstrapServers = bootstrapServers;
    }

    /** The broker's address, for {@code bootstrap.servers}. */
    public String bootstrapServers() {
        return bootstrapServers;
    }

    /** A new admin client for this broker; the caller closes it. */
    public Admin admin() {
        return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers()));
    }

    /** Waits until the broker answers metadata requests. */
    public void awaitReady(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        try (Admin admin = admin()) {
            while (true) {
                try {
                    if (!admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).isEmpty()) {
                        return;
                    }
                } catch (ExecutionException | TimeoutException e) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("Kafka at " + bootstrapServers + " did not become ready in " + timeout, e);
                    }
                }
                Thread.sleep(50);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for Kafka", e);
        }
    }

    /**
     * Creates the topics, each with {@code partitions} partitions, and waits until every partition
     * has a leader: the controller acknowledges a topic before its broker leads it, and a send in
     * between waits on that partition (once, on a loaded machine, past the producer's 2-minute limit).
     */
    public void createTopics(int partitions, String... names) {
        List<NewTopic> topics = Arrays.stream(names).map(n -> new NewTopic(n, partitions, (short) 1)).toList();
        try (Admin admin = admin()) {
            admin.createTopics(topics).all().get(30, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
            while (!led(admin, names)) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("topics " + Arrays.toString(names) + " have partitions without a leader after a minute");
                }
                Thread.sleep(100);
            }
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("could not create topics " + Arrays.toString(names), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating topics", e);
        }
    }

    /** Whether every partition of the topics has a leader; a topic the broker does not know yet has none. */
    private static boolean led(Admin admin, String... names) throws InterruptedException, ExecutionException, TimeoutException {
        try {
            return admin.describeTopics(List.of(names)).allTopicNames().get(30, TimeUnit.SECONDS).values().stream()
                    .flatMap(t -> t.partitions().stream()).allMatch(p -> p.leader() != null && !p.leader().isEmpty());
        } catch (ExecutionException e) {
            if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                return false;
            }
            throw e;
        }
    }

    /** Sends each value to {@code topic} (no key) and waits until all are acknowledged. */
    public void send(String topic, List<byte[]> values) {
        send(topic, null, values);
    }

    /** Sends to one partition, or where the default partitioner puts them when {@code partition} is null. */
    public void send(String topic, Integer partition, List<byte[]> values) {
        try (var producer = new KafkaProducer<>(Map.<String, Object>of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers()),
                new ByteArraySerializer(), new ByteArraySerializer())) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            values.forEach(v -> acks.add(producer.send(new ProducerRecord<>(topic, partition, null, v))));
            // A record the broker did not take must fail the caller, not vanish when the producer closes.
            for (Future<RecordMetadata> ack : acks) {
                ack.get(2, TimeUnit.MINUTES);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while sending to " + topic, e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("the broker did not take every record for " + topic, e);
        }
    }

    /**
     * The committed values of {@code topic} as a read_committed consumer sees them: read until
     * {@code expected} have arrived, then {@code linger} longer so that extra (duplicate) records
     * would show too, or until {@code timeout}.
     */
    public List<byte[]> readCommitted(String topic, int expected, Duration linger, Duration timeout) {
        return readCommitted(List.of(topic), values -> values.size() >= expected, linger, timeout);
    }

    /** As {@link #readCommitted(String, int, Duration, Duration)}, over several topics, until {@code enough} holds of what arrived. */
    public List<byte[]> readCommitted(List<String> topics, Predicate<List<byte[]>> enough, Duration linger, Duration timeout) {
        List<byte[]> out = new ArrayList<>();
        Map<String, Object> config = Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers(),
                ConsumerConfig.GROUP_ID_CONFIG, "read-" + UUID.randomUUID(), ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        try (var consumer = new KafkaConsumer<>(config, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.subscribe(topics);
            long end = System.nanoTime() + timeout.toNanos();
            boolean done = false;
            while (System.nanoTime() < end) {
                consumer.poll(Duration.ofMillis(200)).forEach(r -> out.add(r.value()));
                if (!done && enough.test(out)) {
                    done = true;
                    end = Math.min(end, System.nanoTime() + linger.toNanos());
                }
            }
        }
        return out;
    }

    /** Waits until consumer group {@code group} has committed every record of {@code topic} (a Flink source does so on checkpoints). */
    public void awaitCommitted(String group, String topic, Duration timeout) throws Exception {
        try (Admin admin = admin()) {
            List<TopicPartition> partitions = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().stream()
                    .map(p -> new TopicPartition(topic, p.partition())).toList();
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            partitions.forEach(p -> latest.put(p, OffsetSpec.latest()));
            var ends = admin.listOffsets(latest).all().get();
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
                if (partitions.stream().allMatch(p -> ends.get(p).offset() == 0
                        || committed.get(p) != null && committed.get(p).offset() >= ends.get(p).offset())) {
                    return;
                }
                Thread.sleep(200);
            }
        }
        throw new AssertionError("group " + group + " did not read all of " + topic + " within " + timeout);
    }
}
