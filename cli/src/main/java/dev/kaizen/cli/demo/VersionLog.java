package dev.kaizen.cli.demo;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.time.Duration;
import java.awt.Color;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.colors.XChartSeriesColors;
import org.knowm.xchart.style.markers.Marker;
import org.knowm.xchart.style.markers.SeriesMarkers;

import dev.kaizen.jobs.continual.JobConfig;
import dev.kaizen.operators.release.ReleaseGate;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ReleaseDecision;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.serving.api.RecentShare;

/**
 * Prints one line per version the job announces (read_committed, as serving reads them) with the
 * thumbs-up rate of the latest votes taken through the API at that moment (whoever cast them),
 * one per candidate the release gate refused and one per canary verdict (PROMOTE, ROLLBACK) with
 * the trial's figures; counts steps the guards rejected and the answers each version gave (from
 * chat-responses), and redraws the chart of the rate by version, verdicts marked, after each line,
 * so the file is whole however the demo ends (drawing during JVM shutdown, after Ctrl-C, is not
 * reliable).
 */
final class VersionLog implements AutoCloseable {

    /** A version, and the thumbs-up rate and the share of right answers of the last answers when it was announced. */
    record Point(long version, double rate, double correct) {}

    /** A release, and its canary trial as the job decided it: votes, thumbs up and the verdict (null: none, or no trial). */
    record Release(long version, boolean canary, long votes, long up, ReleaseDecision decision) {
        double rate() {
            return share(up, votes);
        }

        /** The verdict, "on trial" while a canary awaits one, "no trial" for a release announced to everyone. */
        String outcome() {
            return decision != null ? decision.name() : canary ? "on trial" : "no trial";
        }
    }

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final WireCodec<ModelUpdate> updates = WireCodec.modelUpdates(Clock.systemUTC());
    private final WireCodec<ModelRelease> verdicts = WireCodec.modelReleases(Clock.systemUTC());
    private final WireCodec<ResponseLogged> responses = WireCodec.responses(Clock.systemUTC());
    private final JobConfig.Topics topics;
    private final PrintWriter out;
    private final RecentShare votes;
    private final RecentShare correct;
    private final Path chart;
    private final List<Point> points = new ArrayList<>();
    private final Map<Long, Release> releases = new TreeMap<>();
    private final Map<Long, Long> answers = new HashMap<>();
    private final Thread thread;
    private long rejected;
    private long refused;
    private long lastVersion;

    /** {@code correct}: the share of right answers the users read, or null with no users to read them. */
    VersionLog(String bootstrapServers, JobConfig.Topics topics, PrintWriter out, RecentShare votes, RecentShare correct, Path chart) {
        this.consumer = new KafkaConsumer<>(Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed", ConsumerConfig.GROUP_ID_CONFIG, "kaizen-demo-log",
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest", ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false),
                new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.topics = topics;
        this.out = out;
        this.votes = votes;
        this.correct = correct;
        this.chart = chart;
        consumer.subscribe(List.of(topics.modelUpdates(), topics.modelRejections(), topics.modelReleases(), topics.responses()));
        thread = new Thread(this::run, "demo-version-log");
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        try {
            while (true) {
                List<Line> lines = new ArrayList<>();
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(500))) {
                    String topic = record.topic();
                    if (topic.equals(topics.responses())) {
                        if (responses.decode(record.value()) instanceof Decoded.Valid<ResponseLogged> answer) {
                            answered(answer.value().getModelVersion());
                        }
                    } else if (topic.equals(topics.modelReleases())) {
                        if (verdicts.decode(record.value()) instanceof Decoded.Valid<ModelRelease> verdict) {
                            lines.add(new Line(4 * verdict.value().getVersion() + 2, () -> decided(verdict.value())));
                        }
                    } else if (updates.decode(record.value()) instanceof Decoded.Valid<ModelUpdate> valid) {
                        boolean announced = topic.equals(topics.modelUpdates());
                        lines.add(new Line(4 * valid.value().getVersion() - (announced ? 0 : 1), () -> print(announced, valid.value())));
                    }
                }
                // A poll returns records grouped by topic and partition, but the job wrote them in version order: a
                // verdict, a refused candidate, then the release they let through (in one transaction, so one poll).
                lines.sort(Comparator.comparingLong(Line::order));
                lines.forEach(l -> l.print().run());
            }
        } catch (WakeupException e) {
            // closing
        }
    }

    /** A line to print, and where it goes among the lines of the same poll. */
    private record Line(long order, Runnable print) {}

    private synchronized void answered(long version) {
        answers.merge(version, 1L, Long::sum);
    }

    private synchronized void decided(ModelRelease r) {
        releases.put(r.getVersion(), new Release(r.getVersion(), true, r.getCandidateVotes(), r.getCandidateUp(), r.getDecision()));
        out.printf("%-8s version %4d  thumbs-up %s of %d votes on its answers, version %d %s of %d in the same time%n",
                r.getDecision(), r.getVersion(), percent(share(r.getCandidateUp(), r.getCandidateVotes())), r.getCandidateVotes(),
                r.getPromotedVersion(), percent(share(r.getPromotedUp(), r.getPromotedVotes())), r.getPromotedVotes());
        out.flush();
        draw();
    }

    private static double share(long up, long votes) {
        return votes == 0 ? Double.NaN : (double) up / votes;
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
        releases.putIfAbsent(u.getVersion(), new Release(u.getVersion(), u.getCanary(), 0, 0, null));
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
        if (points.isEmpty()) {
            return;
        }
        System.setProperty("java.awt.headless", "true");
        XYChart c = new XYChartBuilder().width(900).height(500).title("Kaizen demo: thumbs-up rate by version")
                .xAxisTitle("model version").yAxisTitle("thumbs-up rate, last 200 answers (%)").build();
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideSE);
        c.getStyler().setYAxisMin(0.0);
        c.getStyler().setYAxisMax(100.0);
        c.getStyler().setMarkerSize(6);
        c.addSeries("thumbs-up rate when announced", points.stream().mapToDouble(Point::version).toArray(),
                points.stream().mapToDouble(p -> 100 * p.rate()).toArray()).setMarker(SeriesMarkers.CIRCLE);
        mark(c, ReleaseDecision.PROMOTE, "promoted: its canary's rate", XChartSeriesColors.GREEN, SeriesMarkers.DIAMOND);
        mark(c, ReleaseDecision.ROLLBACK, "rolled back: its canary's rate", XChartSeriesColors.RED, SeriesMarkers.CROSS);
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

    /** The releases decided {@code decision}, at their canary's thumbs-up rate. */
    private void mark(XYChart c, ReleaseDecision decision, String name, Color color, Marker marker) {
        List<Release> decided = releases.values().stream().filter(r -> r.decision() == decision && r.votes() > 0).toList();
        if (!decided.isEmpty()) {
            XYSeries series = c.addSeries(name, decided.stream().mapToDouble(Release::version).toArray(),
                    decided.stream().mapToDouble(r -> 100 * r.rate()).toArray());
            series.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
            series.setMarker(marker);
            series.setMarkerColor(color);
        }
    }

    /** Every announced release, with its verdict and trial figures once decided. */
    synchronized List<Release> releases() {
        return List.copyOf(releases.values());
    }

    /** The answers each version gave, by version. */
    synchronized Map<Long, Long> answers() {
        return Map.copyOf(answers);
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
