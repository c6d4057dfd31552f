package dev.kaizen.cli.demo;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;

import dev.kaizen.operators.release.ReleaseGate;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.serving.api.RecentShare;

/**
 * Prints one line per version the job announces (read_committed, as serving reads them) with the
 * thumbs-up rate of the latest votes taken through the API at that moment (whoever cast them),
 * and one per candidate the release gate refused; counts steps the guards rejected, and redraws the chart of the rate by version after each one,
 * so the file is whole however the demo ends (drawing during JVM shutdown, after Ctrl-C, is not
 * reliable).
 */
final class VersionLog implements AutoCloseable {

    /** A version, and the thumbs-up rate and the share of right answers of the last answers when it was announced. */
    record Point(long version, double rate, double correct) {}

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final WireCodec<ModelUpdate> codec = WireCodec.modelUpdates(Clock.systemUTC());
    private final String updatesTopic;
    private final PrintWriter out;
    private final RecentShare votes;
    private final RecentShare correct;
    private final Path chart;
    private final List<Point> points = new ArrayList<>();
    private final Thread thread;
    private long rejected;
    private long refused;
    private long lastVersion;

    /** {@code correct}: the share of right answers the users read, or null with no users to read them. */
    VersionLog(String bootstrapServers, String updatesTopic, String rejectionsTopic, PrintWriter out, RecentShare votes,
               RecentShare correct, Path chart) {
        this.consumer = new KafkaConsumer<>(Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed", ConsumerConfig.GROUP_ID_CONFIG, "kaizen-demo-log",
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest", ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false),
                new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.updatesTopic = updatesTopic;
        this.out = out;
        this.votes = votes;
        this.correct = correct;
        this.chart = chart;
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
            if (u.getRejectionReason().startsWith(ReleaseGate.REFUSAL_PREFIX)) {
                refused++;
                out.printf("candidate refused  samples %3d  %s%n", u.getFeedbackCount(), u.getRejectionReason());
                out.flush();
            } else {
                rejected++;
            }
            return;
        }
        double rate = votes.rate();
        double right = correct == null ? Double.NaN : correct.rate();
        Map<String, Double> m = u.getMetrics();
        out.printf("version %4d  samples %3d  loss %.3f  kl %.4f  thumbs-up %s  right %s (last %d answers)%n", u.getVersion(),
                u.getFeedbackCount(), m.getOrDefault("loss", Double.NaN), m.getOrDefault("kl", Double.NaN), percent(rate), percent(right),
                RecentShare.WINDOW);
        out.flush();
        lastVersion = u.getVersion();
        if (!Double.isNaN(rate)) {
            points.add(new Point(u.getVersion(), rate, right));
            draw();
        }
    }

    private static String percent(double share) {
        return Double.isNaN(share) ? "  -  " : String.format("%5.1f%%", 100 * share);
    }

    /** Writes beside the file and moves it in, so a reader never sees half a PNG. */
    private void draw() {
        System.setProperty("java.awt.headless", "true");
        XYChart c = new XYChartBuilder().width(900).height(500).title("Kaizen demo: thumbs-up rate by version")
                .xAxisTitle("model version").yAxisTitle("thumbs-up rate, last 200 answers (%)").build();
        c.getStyler().setLegendVisible(false);
        c.getStyler().setYAxisMin(0.0);
        c.getStyler().setYAxisMax(100.0);
        c.getStyler().setMarkerSize(4);
        c.addSeries("thumbs-up rate", points.stream().mapToDouble(Point::version).toArray(),
                points.stream().mapToDouble(p -> 100 * p.rate()).toArray());
        try {
            Path file = chart.toAbsolutePath();
            Files.createDirectories(file.getParent());
            Path part = file.resolveSibling(file.getFileName() + ".part");
            try (OutputStream o = Files.newOutputStream(part)) {
                BitmapEncoder.saveBitmap(c, o, BitmapEncoder.BitmapFormat.PNG);
            }
            Files.move(part, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            // the demo goes on without its picture; the lines above still say it all
            out.printf("cannot write the chart %s: %s%n", chart, e);
        }
    }

    /** The points with a rate (none before the first vote); the chart holds exactly these. */
    synchronized List<Point> points() {
        return List.copyOf(points);
    }

    synchronized long rejected() {
        return rejected;
    }

    synchronized long refused() {
        return refused;
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
