package dev.kaizen.cli.demo;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import ai.djl.Device;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.commons.io.FileUtils;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.PortRange;

import dev.kaizen.embeddedkafka.EmbeddedKafka;
import dev.kaizen.jobs.continual.ContinualKtoJob;
import dev.kaizen.jobs.continual.EmbeddedScratch;
import dev.kaizen.jobs.continual.JobConfig;
import dev.kaizen.schemas.ReleaseDecision;
import dev.kaizen.schemas.wire.Topic;
import dev.kaizen.serving.Serving;
import dev.kaizen.serving.api.ChatServer;
import dev.kaizen.serving.api.RecentShare;
import dev.kaizen.serving.follow.KafkaClients;
import dev.kaizen.serving.follow.ModelFollower;
import dev.kaizen.serving.follow.VersionFollower;

/**
 * {@code bin/kaizen demo}: an in-process KRaft broker, the continual-kto job on a MiniCluster with
 * RocksDB and checkpoints, serving with the chat page, and simulated users, all in this JVM.
 * Stops after the given minutes or on Ctrl-C, then prints a summary; the chart is kept up to date as versions come.
 */
public final class Demo {

    /** See DemoCommand for each option. */
    public record Options(int users, double chatsPerSecond, double noise, double minutes, String host, int port, String token,
                          Path summary, Path chart, Path cacheDir, Double brigadeAt, double brigadeShare) {}

    /** The demo's golden set: the polite, right answers to a quarter of the task's training questions. */
    static final String GOLDEN_SET = "golden-two-style.jsonl";

    private static final String MODEL_ID = "two-style";

    /** The share of conversations a canary release gets: half, so that a trial is short at the demo's few chats a second. */
    private static final double CANARY_FRACTION = 0.5;

    private static final String PROMETHEUS_PORT = "metrics.reporter.prom.port";

    private final Options options;
    private final PrintWriter out;

    public Demo(Options options, PrintWriter out) {
        this.options = options;
        this.out = out;
    }

    public int run() throws Exception {
        Path base = BaseModelCache.ensure(options.cacheDir(), out);
        Path work = Files.createTempDirectory("kaizen-demo-");
        CountDownLatch stop = new CountDownLatch(1);
        CountDownLatch stopped = new CountDownLatch(1);
        // Ctrl-C: let the main thread wind everything down, and wait for it.
        Thread hook = new Thread(() -> {
            stop.countDown();
            try {
                stopped.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "kaizen-demo-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        long started = System.nanoTime();
        Path golden = work.resolve(GOLDEN_SET);
        try (InputStream in = Demo.class.getResourceAsStream(GOLDEN_SET)) {
            Files.copy(in, golden);
        }
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            kafka.createTopics(1, Arrays.stream(Topic.values()).map(Topic::topicName).toArray(String[]::new));
            List<String> settings = new ArrayList<>(List.of("kafka.bootstrap-servers=" + kafka.bootstrapServers(),
                    "kafka.group-id=kaizen-demo-" + UUID.randomUUID(), "event-time.out-of-orderness=200ms", "event-time.idleness=1s",
                    "settle.lateness=1s", "batches.size=16", "batches.timeout=5s",
                    // A release every other step keeps the climb visible in a ten-minute demo.
                    "release.every-steps=2", "release.max-wait=10s", "release.golden-set=" + golden,
                    // Its golden answers are the style the users want, so once learned their NLL is tiny (0.002 to 0.06
                    // nats/token): a release may add little to it, or a brigade drags the model a little at a time.
                    "release.max-golden-nll-increase=0.0005",
                    // Each release is a canary served to half the conversations (CANARY_FRACTION): at 6 chats/s its
                    // trial of 60 to 120 votes takes half a minute or so, where the production sizes would take minutes.
                    "canary.enabled=true", "canary.min-votes=60", "canary.look-every=30", "canary.max-votes=120",
                    "training.base-model-dir=" + base,
                    "training.base-model-name=kaizen-two-style-sft", "training.checkpoint-root=" + work.resolve("store").toUri(),
                    "flink.execution.checkpointing.interval=2s", "flink.execution.checkpointing.dir=" + work.resolve("flink").toUri(),
                    // Flink's REST endpoint, RPC and blob server on the demo's address only, and no cancelling from the web.
                    "flink.rest.bind-address=" + options.host(), "flink.rest.address=" + options.host(),
                    "flink.jobmanager.bind-host=" + options.host(), "flink.jobmanager.rpc.address=" + options.host(),
                    "flink.taskmanager.bind-host=" + options.host(), "flink.taskmanager.host=" + options.host(),
                    "flink.web.cancel.enable=false"));
            EmbeddedScratch.flinkOptions(work.resolve("flink-scratch")).forEach((k, v) -> settings.add("flink." + k + "=" + v));
            JobConfig config = JobConfig.load(null, settings);
            Map<String, String> flink = new HashMap<>(config.flink());
            // Flink's reporter takes the first free port of its range; the demo picks it, to say where to scrape.
            int metricsPort = firstFreePort(flink.get(PROMETHEUS_PORT));
            flink.put(PROMETHEUS_PORT, Integer.toString(metricsPort));
            StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(1, Configuration.fromMap(flink));
            ContinualKtoJob.build(env, config, false);
            JobClient job = env.executeAsync("kaizen-demo");
            try (Serving serving = Serving.start(new Serving.Options(new ModelFollower.Options(base,
                    new VersionFollower.Options(MODEL_ID, KafkaClients.of(kafka.bootstrapServers()), config.topics().modelUpdates(),
                            config.training().checkpointRoot(), config.topics().modelRejections(), config.topics().modelReleases()), Device.cpu(),
                    CANARY_FRACTION),
                    config.topics().responses(), config.topics().feedback(),
                    new ChatServer.Options(options.host(), options.port(), options.token(), 1 << 20)))) {
                out.printf("chat page: http://%s:%d/  (model %s; Ctrl-C stops)%n", options.host(), serving.port(), MODEL_ID);
                out.printf("metrics: http://%s:%d/metrics (the job, Flink's Prometheus reporter), http://%s:%d/metrics (serving); "
                        + "kafka: %s%n", options.host(), metricsPort, options.host(), serving.port(), kafka.bootstrapServers());
                SimulatedUsers users = options.users() == 0 ? null
                        : new SimulatedUsers(URI.create("http://" + options.host() + ":" + serving.port()), options.token(), options.users(),
                                options.chatsPerSecond(), options.noise(), 20);
                if (users != null) {
                    out.printf("%d simulated users, %.1f chats/s, liking polite answers that are right, with %.0f%% noise%n",
                            options.users(), options.chatsPerSecond(), 100 * options.noise());
                }
                out.flush();
                try (VersionLog versions = new VersionLog(kafka.bootstrapServers(), config.topics(), out, serving.recentVotes(),
                        users == null ? null : users.correctness(), options.chart())) {
                    if (users != null) {
                        users.start();
                    }
                    long begun = System.nanoTime();
                    long end = options.minutes() > 0 ? begun + (long) (options.minutes() * 6e10) : Long.MAX_VALUE;
                    Double honestBefore = null;
                    if (users != null && options.brigadeAt() != null) {
                        long at = begun + (long) (options.brigadeAt() * 6e10);
                        if (at < end && !stop.await(at - System.nanoTime(), TimeUnit.NANOSECONDS)) {
                            honestBefore = users.honestVotes().rate();
                            users.brigade(options.brigadeShare());
                            out.printf("brigade: from now %.0f%% of the votes come from fresh accounts that want curt answers "
                                    + "(the honest users' thumbs-up rate: %.1f%%)%n", 100 * options.brigadeShare(), 100 * honestBefore);
                            out.flush();
                        }
                    }
                    if (end == Long.MAX_VALUE) {
                        stop.await();
                    } else {
                        stop.await(end - System.nanoTime(), TimeUnit.NANOSECONDS);
                    }
                    if (users != null) {
                        users.close();
                    }
                    finish(serving.recentVotes(), users, honestBefore, versions, (System.nanoTime() - started) / 6e10);
                }
            } finally {
                job.cancel().get(1, TimeUnit.MINUTES);
            }
        } finally {
            FileUtils.deleteQuietly(work.toFile());
            stopped.countDown();
            if (stop.getCount() > 0) {
                Runtime.getRuntime().removeShutdownHook(hook);
            }
        }
        return 0;
    }

    private void finish(RecentShare votes, SimulatedUsers users, Double honestBefore, VersionLog versions, double minutes)
            throws IOException {
        RecentShare correct = users == null ? null : users.correctness();
        double initial = votes.initialRate();
        double last = votes.rate();
        double initialCorrect = correct == null ? Double.NaN : correct.initialRate();
        double lastCorrect = correct == null ? Double.NaN : correct.rate();
        out.printf("%nsummary: %d versions, %d steps rejected by the guards, %d candidates refused by the release gate, %.1f minutes%n",
                versions.lastVersion(), versions.rejected(), versions.refused(), minutes);
        if (votes.count() > 0) {
            out.printf("thumbs-up rate: %.1f%% over the first %d answers -> %.1f%% over the last %d (%d votes)%n", 100 * initial,
                    RecentShare.WINDOW, 100 * last, RecentShare.WINDOW, votes.count());
        }
        if (correct != null && correct.count() > 0) {
            out.printf("right answers: %.1f%% over the first %d -> %.1f%% over the last %d%n", 100 * initialCorrect, RecentShare.WINDOW,
                    100 * lastCorrect, RecentShare.WINDOW);
        }
        double honestAfter = users == null ? Double.NaN : users.honestVotes().rate();
        if (honestBefore != null) {
            out.printf("brigade: the honest users' thumbs-up rate %.1f%% when it began -> %.1f%% over their last %d votes%n",
                    100 * honestBefore, 100 * honestAfter, RecentShare.WINDOW);
        }
        List<VersionLog.Release> releases = versions.releases();
        Map<Long, Long> answers = versions.answers();
        if (!releases.isEmpty()) {
            out.printf("release  answers  canary votes  thumbs-up  verdict%n");
            releases.forEach(r -> out.printf("%7d  %7d  %12d  %9s  %s%n", r.version(), answers.getOrDefault(r.version(), 0L), r.votes(),
                    r.votes() == 0 ? "-" : String.format("%.1f%%", 100 * r.rate()), r.outcome()));
        }
        long answered = answers.values().stream().mapToLong(Long::longValue).sum();
        long byRolledBack = releases.stream().filter(r -> r.decision() == ReleaseDecision.ROLLBACK)
                .mapToLong(r -> answers.getOrDefault(r.version(), 0L)).sum();
        out.printf("answers from releases later rolled back: %d of %d%s%n", byRolledBack, answered,
                answered == 0 ? "" : String.format(" (%.1f%%)", 100.0 * byRolledBack / answered));
        List<VersionLog.Point> points = versions.points();
        if (!points.isEmpty()) {
            out.printf("chart: %s%n", options.chart().toAbsolutePath());
        }
        if (options.summary() != null) {
            Map<String, Object> summary = new LinkedHashMap<>();
            summary.put("initial_rate", Double.isNaN(initial) ? null : initial);
            summary.put("final_rate", Double.isNaN(last) ? null : last);
            summary.put("initial_correct", Double.isNaN(initialCorrect) ? null : initialCorrect);
            summary.put("final_correct", Double.isNaN(lastCorrect) ? null : lastCorrect);
            summary.put("versions", versions.lastVersion());
            summary.put("rejected_steps", versions.rejected());
            summary.put("refused_candidates", versions.refused());
            summary.put("honest_rate_before_brigade", honestBefore);
            summary.put("honest_rate_final", Double.isNaN(honestAfter) ? null : honestAfter);
            summary.put("votes", votes.count());
            summary.put("minutes", minutes);
            summary.put("chart", points.isEmpty() ? null : options.chart().toAbsolutePath().toString());
            List<Map<String, Object>> byVersion = new ArrayList<>();
            points.forEach(p -> {
                Map<String, Object> point = new LinkedHashMap<>();
                point.put("version", p.version());
                point.put("rate", p.rate());
                point.put("correct", Double.isNaN(p.correct()) ? null : p.correct());
                byVersion.add(point);
            });
            summary.put("rate_by_version", byVersion);
            List<Map<String, Object>> trials = new ArrayList<>();
            releases.forEach(r -> {
                Map<String, Object> release = new LinkedHashMap<>();
                release.put("version", r.version());
                release.put("answers", answers.getOrDefault(r.version(), 0L));
                release.put("canary_votes", r.votes());
                release.put("canary_rate", r.votes() == 0 ? null : r.rate());
                release.put("verdict", r.outcome());
                trials.add(release);
            });
            summary.put("releases", trials);
            summary.put("answers", answered);
            summary.put("answers_from_rolled_back", byRolledBack);
            new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(options.summary().toFile(), summary);
            out.printf("summary: %s%n", options.summary().toAbsolutePath());
        }
        out.flush();
    }

    /** The first port of a Flink port range ("9249-9259") that is free on every interface, where the reporter listens. */
    static int firstFreePort(String range) {
        Iterator<Integer> ports = new PortRange(range).getPortsIterator();
        while (ports.hasNext()) {
            int port = ports.next();
            try (ServerSocket probe = new ServerSocket(port)) {
                return port;
            } catch (IOException e) {
                // taken: try the next
            }
        }
        throw new IllegalStateException("no free port in " + range + " for Flink's Prometheus reporter; set " + PROMETHEUS_PORT);
    }
}
