package dev.kaizen.jobs.demo;

import java.io.PrintWriter;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;

/**
 * Prints one line per version the job announces (read_committed, as serving reads them) with the
 * users' thumbs-up rate at that moment, counts steps the guards rejected, and keeps the points
 * for the chart.
 */
final class VersionLog implements AutoCloseable {

    /** A version and the thumbs-up rate of the last answers when it was announced. */
    record Point(long version, double rate) {}

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final WireCodec<ModelUpdate> codec = WireCodec.modelUpdates(Clock.systemUTC());
    private final String updatesTopic;
    private final PrintWriter out;
    private final SimulatedUsers users;
    private final List<Point> points = new ArrayList<>();
    private final Thread thread;
    private long rejected;
    private long lastVersion;

    VersionLog(String bootstrapServers, String updatesTopic, String rejectionsTopic, PrintWriter out, SimulatedUsers users) {
        this.consumer = new KafkaConsumer<>(Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed", ConsumerConfig.GROUP_ID_CONFIG, "kaizen-demo-log",
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest"), new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.updatesTopic = updatesTopic;
        this.out = out;
        this.users = users;
        consumer.subscribe(List.of(updatesTopic, rejectionsTopic));
        thread = new Thread(this::run, "demo-version-log");
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        try {
            while (true) {
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(500))) {
                    if (codec.decode(record.value()) instanceof Decoded.Valid<ModelUpdate> valid) {
                        print(record.topic().equals(updatesTopic), valid.value());
                    }
                }
            }
        } catch (WakeupException e) {
            // closing
        }
    }

    private synchronized void print(boolean announced, ModelUpdate u) {
        if (!announced) {
            rejected++;
            return;
        }
        double rate = users == null ? Double.NaN : users.rate();
        Map<String, Double> m = u.getMetrics();
        out.printf("version %4d  samples %3d  loss %.3f  kl %.4f  thumbs-up %s (last %d answers)%n", u.getVersion(), u.getFeedbackCount(),
                m.getOrDefault("loss", Double.NaN), m.getOrDefault("kl", Double.NaN),
                Double.isNaN(rate) ? "  -  " : String.format("%5.1f%%", 100 * rate), SimulatedUsers.WINDOW);
        out.flush();
        points.add(new Point(u.getVersion(), rate));
        lastVersion = u.getVersion();
    }

    synchronized List<Point> points() {
        return List.copyOf(points);
    }

    synchronized long rejected() {
        return rejected;
    }

    synchronized long lastVersion() {
        return lastVersion;
    }

    @Override
    public void close() throws InterruptedException {
        consumer.wakeup();
        thread.join(10_000);
        consumer.close();
    }
}
