package dev.kaizen.cli.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.net.URI;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import ai.djl.Device;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.embeddedkafka.EmbeddedKafka;
import dev.kaizen.jobs.continual.ContinualKtoJob;
import dev.kaizen.jobs.continual.EmbeddedScratch;
import dev.kaizen.jobs.continual.JobConfig;
import dev.kaizen.operators.accumulate.AccumulateBatches;
import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.operators.update.UpdateModel;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ReleaseDecision;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.Topic;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.serving.Serving;
import dev.kaizen.serving.api.ChatServer;
import dev.kaizen.serving.follow.KafkaClients;
import dev.kaizen.serving.follow.ModelFollower;
import dev.kaizen.serving.follow.VersionFollower;

/**
 * The canary end to end: a real broker, the job on a MiniCluster with RocksDB and canaries on,
 * serving with half of its users' conversations given to the candidate, and simulated users who
 * like polite, right answers chatting and voting through the HTTP API. Release 1 is trained on
 * their votes and promoted; release 2 is trained on the same votes turned around (the seam below),
 * answers only its share of the conversations during its trial, is rolled back, and release 1
 * keeps serving everyone.
 */
class CanaryEndToEndTest {

    private static final String MODEL = "two-style";
    private static final double FRACTION = 0.5;

    /** The update stage with labels turned around for every step towards release 2: a bad release, made on purpose. */
    static final class InvertingUpdate extends UpdateModel {
        InvertingUpdate(JobConfig c, Configuration flink) {
            super(c.training(), c.release(), c.canary().rule(), c.retention(flink), ContinualKtoJob.deadLetters(c));
        }

        @Override
        protected List<SettledVote> trainingSamples(List<SettledVote> samples, long version) {
            return version != 2 ? samples : samples.stream().map(v -> new SettledVote(v.modelId(), v.responseId(), v.userId(), v.eventId(),
                    v.eventTime(), !v.desirable(), v.prompt(), v.completion(), v.modelVersion(), v.settledAt())).toList();
        }
    }

    @Test
    void aBadReleaseAnswersOnlyItsCanaryShareIsRolledBackAndAGoodOneIsPromoted(@TempDir Path work) throws Exception {
        // Shared with later runs in this build: the SFT base model takes a minute and a half to train.
        Path base = BaseModelCache.ensure(Path.of("target", "two-style-base"), new PrintWriter(System.out, true));
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            kafka.createTopics(1, Arrays.stream(Topic.values()).map(Topic::topicName).toArray(String[]::new));
            List<String> settings = new ArrayList<>(List.of("kafka.bootstrap-servers=" + kafka.bootstrapServers(),
                    "kafka.group-id=canary-" + UUID.randomUUID(), "event-time.out-of-orderness=200ms", "event-time.idleness=5s",
                    "settle.lateness=1s", "batches.size=16", "batches.timeout=5s", "release.every-steps=8", "release.max-wait=1h",
                    // The gate would refuse the bad release before any user saw it: this test is about what the canary catches.
                    "release.holdout-fraction=0", "canary.enabled=true", "canary.min-votes=150", "canary.look-every=50",
                    "canary.max-votes=300", "canary.alpha=0.01", "training.learning-rate=1e-3", "training.base-model-dir=" + base,
                    "training.checkpoint-root=" + work.resolve("store").toUri(),
                    "flink.execution.checkpointing.interval=2s", "flink.execution.checkpointing.dir=" + work.resolve("flink").toUri()));
            EmbeddedScratch.flinkOptions(work.resolve("flink-scratch")).forEach((k, v) -> settings.add("flink." + k + "=" + v));
            JobConfig config = JobConfig.load(null, settings);
            Configuration flink = Configuration.fromMap(config.flink());
            StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(1, flink);
            ContinualKtoJob.build(env, config, false, new ContinualKtoJob.Stages(
                    new AccumulateBatches(config.batches().size(), config.batches().timeout()), new InvertingUpdate(config, flink)));
            JobClient job = env.executeAsync("canary");
            try (Serving serving = Serving.start(new Serving.Options(new ModelFollower.Options(base,
                    new VersionFollower.Options(MODEL, KafkaClients.of(kafka.bootstrapServers()), config.topics().modelUpdates(),
                            config.training().checkpointRoot(), null, config.topics().modelReleases()), Device.cpu(), FRACTION),
                    config.topics().responses(), config.topics().feedback(), new ChatServer.Options("127.0.0.1", 0, null, 1 << 20)))) {
                ModelFollower follower = serving.follower();
                // Four chats per account: many accounts, so the share the hash gives the candidate is close to the fraction.
                try (SimulatedUsers users = new SimulatedUsers(URI.create("http://127.0.0.1:" + serving.port()), null, 6, 6, 0.05, 4)) {
                    users.start();
                    long deadline = System.nanoTime() + Duration.ofMinutes(8).toNanos();
                    while (!follower.decisions().containsKey(2L)) {
                        assertThat(System.nanoTime()).as("verdicts on releases 1 and 2 within 8 minutes; so far %s", follower.decisions())
                                .isLessThan(deadline);
                        Thread.sleep(500);
                    }
                }
                Map<Long, ModelRelease> decisions = follower.decisions();
                ModelRelease good = decisions.get(1L);
                ModelRelease bad = decisions.get(2L);
                System.out.printf("release 1: %s (%s); release 2: %s (%s)%n", good.getDecision(), good.getReason(), bad.getDecision(), bad.getReason());
                assertThat(good.getDecision()).isEqualTo(ReleaseDecision.PROMOTE);
                assertThat(bad.getDecision()).isEqualTo(ReleaseDecision.ROLLBACK);
                assertThat(bad.getPromotedVersion()).isEqualTo(1);
                assertThat((double) bad.getCandidateUp() / bad.getCandidateVotes())
                        .isLessThan((double) bad.getPromotedUp() / bad.getPromotedVotes());
                assertThat(follower.version()).as("release 1 keeps serving everyone").isEqualTo(1);
                assertThat(follower.candidateVersion()).isNotEqualTo(2);

                // Every answer given while release 2 was on trial, by the version that wrote it.
                long announced = follower.announced().stream().filter(u -> u.getVersion() == 2).findFirst().orElseThrow()
                        .getCreatedAt().toEpochMilli();
                long decided = bad.getDecidedAt().toEpochMilli();
                WireCodec<ResponseLogged> codec = WireCodec.responses(Clock.systemUTC());
                List<ResponseLogged> answers = kafka.readCommitted(List.of(config.topics().responses()), records -> false,
                        Duration.ZERO, Duration.ofSeconds(20)).stream().map(b -> ((Decoded.Valid<ResponseLogged>) codec.decode(b)).value()).toList();
                long during = answers.stream().filter(a -> a.getCreatedAt().toEpochMilli() >= announced && a.getCreatedAt().toEpochMilli() <= decided)
                        .count();
                long byBad = answers.stream().filter(a -> a.getModelVersion() == 2).count();
                System.out.printf("release 2 on trial: %d answers, %d of them by release 2 (%.1f%%; canary fraction %.0f%%)%n",
                        during, byBad, 100.0 * byBad / during, 100 * FRACTION);
                // Accounts of four chats each are hashed to the candidate: the share's spread is that of the accounts,
                // about 5 points for the ~80 of a trial; the answers in flight when the verdict came add a few.
                assertThat((double) byBad / during).isBetween(FRACTION - 0.2, FRACTION + 0.15);
            } finally {
                job.cancel().get();
            }
        }
    }
}
