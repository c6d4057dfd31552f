package dev.kaizen.jobs.continual;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
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

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.embeddedkafka.Broker;
import dev.kaizen.embeddedkafka.FreePort;
import dev.kaizen.jobs.continual.ContinualKtoLoopTest.Run;

/**
 * The job as users run it: {@code kaizen-job.jar} given to {@code flink run}, on a JobManager and
 * a TaskManager in processes of their own next to a Kafka broker process, all started by
 * {@code deploy/local/cluster} from Maven jars. Mid-stream the TaskManager is killed with SIGKILL
 * (a lost machine) and a new one started; the job recovers from its last checkpoint and the
 * counts on every output topic are still exact ({@link ContinualKtoLoopTest.Run#finishAndCheck}).
 * The cluster's configuration wins over the job file's {@code flink:} defaults: checkpoints are
 * taken at the cluster's interval into the cluster's directory, not the job's /tmp default.
 */
@Timeout(value = 20, unit = TimeUnit.MINUTES)
class ContinualKtoClusterIT {

    @TempDir
    Path tmp;

    @Test
    void theJobJarOnAMultiProcessClusterLosesATaskManagerAndKeepsItsCountsExact() throws Exception {
        Path jar = Path.of(System.getProperty("kaizen.job-jar"));
        assertThat(jar).as("built by `mvn package` before this test").isRegularFile();
        int[] ports = FreePort.onLoopback(4);
        int kafkaPort = ports[0];
        int restPort = ports[1];
        Cluster cluster = new Cluster(tmp.resolve("cluster"), Map.of("KAFKA_PORT", "" + kafkaPort,
                "KAFKA_CONTROLLER_PORT", "" + ports[2], "FLINK_REST_PORT", "" + restPort, "FLINK_RPC_PORT", "" + ports[3],
                // Checkpoints every second (within the test's Kafka transaction timeout), and a lost TaskManager noticed in
                // seconds rather than the default 50.
                "FLINK_PROPERTIES", "execution.checkpointing.interval: 1 s\nexecution.checkpointing.timeout: 2 min\nheartbeat.interval: 1 s\n"
                        + "heartbeat.timeout: 10 s"));
        cluster.run("start");
        try {
            Broker broker = new Broker("127.0.0.1:" + kafkaPort);
            broker.awaitReady(Duration.ofMinutes(1));
            Path base = tmp.resolve("base");
            ModelPresets.TINY.write(base, 5);
            Run run = new Run(broker, "cluster", ContinualKtoLoopTest.defaultScenario(), base, tmp.resolve("store"),
                    ContinualKtoLoopTest.goldenSet(tmp));
            List<String> submit = new ArrayList<>(List.of("submit", "-p", "" + ContinualKtoLoopTest.PARALLELISM, jar.toString()));
            run.settings.forEach(s -> submit.addAll(List.of("-D", s)));
            Matcher submitted = Pattern.compile("Job has been submitted with JobID ([0-9a-f]{32})").matcher(cluster.run(submit.toArray(String[]::new)));
            assertThat(submitted.find()).as("flink run reports the job id").isTrue();
            String jobId = submitted.group(1);

            run.releasePushers();
            run.readSteps(20 * ContinualKtoLoopTest.BATCH, Duration.ofMinutes(4));
            assertThat(cluster.run("kill-taskmanagers")).contains("killed taskmanager-1");
            assertThat(cluster.run("taskmanager")).contains("taskmanager-2 started");
            run.finishAndCheck();
            JsonNode checkpointing = new ObjectMapper().readTree(HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + restPort + "/jobs/" + jobId + "/checkpoints/config")).build(),
                    HttpResponse.BodyHandlers.ofString()).body());
            assertThat(checkpointing.get("interval").asLong()).as("the cluster's interval, not the job file's 30 s").isEqualTo(1000);
            try (Stream<Path> taken = Files.list(tmp.resolve("cluster/flink/checkpoints/" + jobId))) {
                assertThat(taken.map(p -> p.getFileName().toString())).as("checkpoints in the cluster's directory").anyMatch(n -> n.startsWith("chk-"));
            }
            assertThat(Path.of("/tmp/kaizen/flink-checkpoints", jobId)).as("nothing in the job file's default directory").doesNotExist();
            assertThat(Files.readString(tmp.resolve("cluster/logs/jobmanager.log")))
                    .as("the job restarted after losing its TaskManager").containsPattern("switched from state RUNNING to (FAILING|RESTARTING)");
        } catch (AssertionError | RuntimeException e) {
            throw new AssertionError(e.getMessage() + "\n" + notableLogLines(tmp.resolve("cluster/logs")), e);
        } finally {
            cluster.run("stop");
        }
    }

    /** What the cluster's processes logged about idleness, restores and failures: where a shortfall's cause shows. */
    private static String notableLogLines(Path logs) throws Exception {
        Pattern notable = Pattern.compile("idle|restor|WARN|ERROR|Exception", Pattern.CASE_INSENSITIVE);
        StringBuilder out = new StringBuilder();
        try (Stream<Path> files = Files.list(logs)) {
            for (Path log : files.filter(f -> f.toString().endsWith(".log")).sorted().toList()) {
                out.append("--- ").append(log.getFileName()).append('\n');
                Files.readAllLines(log, StandardCharsets.UTF_8).stream().filter(l -> notable.matcher(l).find()).limit(80)
                        .forEach(l -> out.append(l, 0, Math.min(l.length(), 400)).append('\n'));
            }
        }
        return out.toString();
    }

    /** {@code deploy/local/cluster} with its own folder and ports. */
    private record Cluster(Path dir, Map<String, String> env) {

        String run(String... args) throws Exception {
            List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("kaizen.root"), "deploy/local/cluster").toString()));
            command.addAll(List.of(args));
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(Files.createTempFile(dir.getParent(), "cluster-", ".out").toFile());
            builder.environment().putAll(env);
            builder.environment().put("KAIZEN_CLUSTER_DIR", dir.toString());
            Process process = builder.start();
            boolean ended = process.waitFor(5, TimeUnit.MINUTES);
            if (!ended) {
                process.destroyForcibly();
            }
            String out = Files.readString(builder.redirectOutput().file().toPath(), StandardCharsets.UTF_8);
            assertThat(ended && process.exitValue() == 0).as("cluster %s:%n%s", String.join(" ", args), out).isTrue();
            return out;
        }
    }
}
