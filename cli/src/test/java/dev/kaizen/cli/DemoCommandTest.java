package dev.kaizen.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.schemas.wire.Topic;
import dev.kaizen.testkit.Await;

/**
 * The demo end to end, briefly: the base model is trained and cached, versions are announced and
 * printed, and a demo stopped the way Ctrl-C stops it (SIGTERM runs the same shutdown hook) winds
 * down and leaves its summary and a whole chart; a second run takes the cached model. How far
 * the rate climbs in ten minutes is measured by running the demo itself (see the README).
 */
class DemoCommandTest {

    @Test
    void aDemoStoppedLikeCtrlCLeavesItsSummaryAndChartAndASecondRunReusesTheModel(@TempDir Path tmp) throws Exception {
        Path cache = tmp.resolve("cache");
        Process demo = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx2g",
                "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"), KaizenCommand.class.getName(), "demo",
                "--port", "0", "--cache-dir", cache.toString(), "--summary", tmp.resolve("summary.json").toString(),
                "--chart", tmp.resolve("chart.png").toString()).redirectErrorStream(true).redirectOutput(tmp.resolve("demo.log").toFile()).start();
        try {
            // Apart: the SFT's time is the machine's (1:48 to 3:00 on 2 cores), the versions' the loop's.
            awaitPrinted(tmp.resolve("demo.log"), "chat page: ", "the base model trained and the demo up within 10 minutes", 10);
            awaitPrinted(tmp.resolve("demo.log"), "version    3 ", "a third version within 5 minutes of the chat page's line", 5);
            everyDashboardPanelHasData(Files.readString(tmp.resolve("demo.log")), tmp);
            demo.destroy();
            assertThat(demo.waitFor(2, TimeUnit.MINUTES)).as("the demo winds down after SIGTERM").isTrue();
        } finally {
            demo.destroyForcibly();
        }
        String printed = Files.readString(tmp.resolve("demo.log"));
        assertThat(printed).contains("SFT-training").contains("summary: ");
        // A release every other step of 16 votes (or one, when the wait for the second ran out): its trained samples.
        java.util.regex.Matcher first = java.util.regex.Pattern.compile("version +1 +samples +(\\d+) +loss").matcher(printed);
        assertThat(first.find()).as(printed).isTrue();
        assertThat(Integer.parseInt(first.group(1))).isBetween(10, 32);

        JsonNode summary = new ObjectMapper().readTree(tmp.resolve("summary.json").toFile());
        assertThat(summary.get("versions").asLong()).isGreaterThanOrEqualTo(3);
        assertThat(summary.get("votes").asLong()).isGreaterThanOrEqualTo(48);
        // One point per announced version with votes, in the order they were announced.
        JsonNode byVersion = summary.get("rate_by_version");
        assertThat(byVersion.size()).isGreaterThanOrEqualTo(3);
        for (int i = 0; i < byVersion.size(); i++) {
            assertThat(byVersion.get(i).get("version").asLong()).isGreaterThan(i == 0 ? 0 : byVersion.get(i - 1).get("version").asLong());
        }
        // Every release is a canary, and the next is announced only once its trial is decided: version 1's was, on its votes.
        JsonNode trial = summary.get("releases").get(0);
        assertThat(trial.get("version").asLong()).isEqualTo(1);
        assertThat(trial.get("verdict").asText()).as(printed).isIn("PROMOTE", "ROLLBACK");
        assertThat(trial.get("canary_votes").asLong()).isGreaterThanOrEqualTo(60);
        assertThat(trial.get("answers").asLong()).isPositive();
        assertThat(printed).containsPattern("(PROMOTE|ROLLBACK) +version +1 +thumbs-up +[0-9.]+% of \\d+ votes on its answers, version 0 ")
                .containsPattern("answers from releases later rolled back: \\d+ of \\d+");
        assertThat(summary.get("answers_from_rolled_back").asLong()).isBetween(0L, summary.get("answers").asLong());
        assertThat(summary.get("initial_rate").isNumber()).as("initial_rate").isTrue();
        // The users read answers of a base model that knows its facts: nearly all are right.
        assertThat(summary.get("initial_correct").asDouble()).isGreaterThanOrEqualTo(0.85);
        assertThat(summary.get("final_correct").asDouble()).isGreaterThanOrEqualTo(0.85);
        assertThat(printed).containsPattern("right +[0-9.]+% \\(last 200 answers\\)");
        byte[] png = Files.readAllBytes(tmp.resolve("chart.png"));
        assertThat(png).hasSizeGreaterThan(1000).startsWith((byte) 0x89, (byte) 'P', (byte) 'N', (byte) 'G');
        // a PNG ends with its IEND chunk and that chunk's CRC: nothing was cut short
        assertThat(new String(png, png.length - 8, 4, StandardCharsets.ISO_8859_1)).isEqualTo("IEND");
        try (Stream<Path> models = Files.list(cache)) {
            assertThat(models.map(p -> p.getFileName().toString())).singleElement().asString().startsWith("two-style-sft-");
        }

        CliRun second = CliRun.of("demo", "--minutes", "0.1", "--users", "0", "--port", "0", "--cache-dir", cache.toString(),
                "--chart", tmp.resolve("second.png").toString());
        assertThat(second.exitCode()).as(second.err()).isZero();
        assertThat(second.out()).contains("(cached)").doesNotContain("SFT-training");
    }

    private static void awaitPrinted(Path log, String text, String what, int minutes) throws InterruptedException {
        Await.until(() -> read(log).contains(text), Duration.ofMinutes(minutes), () -> what + ":\n" + read(log));
    }

    private static String read(Path log) {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A real Prometheus scrapes the demo's job (Flink's reporter) and serving with the deployed scrape
     * configuration, and every expression of every panel of the Grafana dashboard returns data: no
     * panel reads a metric nobody exports. One undecodable vote on the feedback topic gives the
     * dead-letter panel its reason.
     */
    private static void everyDashboardPanelHasData(String printed, Path tmp) throws Exception {
        Matcher where = Pattern.compile("metrics: http://127\\.0\\.0\\.1:(\\d+)/metrics .*http://127\\.0\\.0\\.1:(\\d+)/metrics "
                + "\\(serving\\); kafka: (\\S+)").matcher(printed);
        assertThat(where.find()).as(printed).isTrue();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(Map.of("bootstrap.servers", where.group(3)),
                new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.send(new ProducerRecord<>(Topic.CHAT_FEEDBACK.topicName(), "not avro".getBytes(StandardCharsets.UTF_8))).get();
        }
        List<String> expressions = new ArrayList<>();
        for (JsonNode panel : new ObjectMapper().readTree(Path.of("..", "deploy", "grafana", "dashboards", "kaizen.json").toFile()).get("panels")) {
            panel.path("targets").forEach(t -> expressions.add(t.get("expr").asText().replace("$__rate_interval", "30s")));
        }
        assertThat(expressions).hasSizeGreaterThan(20);
        Path dir = Files.createDirectories(tmp.resolve("prometheus"));
        try (PrometheusServer prometheus = PrometheusServer.start(dir, Map.of("flink", "127.0.0.1:" + where.group(1),
                "kaizen-serving", "127.0.0.1:" + where.group(2)))) {
            List<String> empty = new ArrayList<>(expressions);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (!empty.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(2000);
                List<String> still = new ArrayList<>();
                for (String expr : empty) {
                    if (prometheus.query(expr).isEmpty()) {
                        still.add(expr);
                    }
                }
                empty = still;
            }
            assertThat(empty).as("dashboard expressions without data").isEmpty();
            assertThat(prometheus.query("up").findValuesAsText("job")).containsExactlyInAnyOrder("flink", "kaizen-serving");
        }
    }

    /** A port that is taken is said before minutes of start-up (model, Kafka, Flink), not after. */
    @Test
    void aTakenPortIsRefusedBeforeAnythingStarts(@TempDir Path tmp) throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            long started = System.nanoTime();
            CliRun run = CliRun.of("demo", "--port", Integer.toString(taken.getLocalPort()), "--cache-dir", tmp.toString());
            assertThat(run.exitCode()).isEqualTo(1);
            assertThat(run.err()).contains("port " + taken.getLocalPort() + " on 127.0.0.1 is already in use");
            assertThat(run.out()).doesNotContain("SFT-training");
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(10));
        }
    }
}
