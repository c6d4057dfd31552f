package dev.kaizen.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import ai.djl.Device;
import org.apache.commons.io.FileUtils;

import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.checkpoints.CheckpointStore;
import dev.kaizen.embeddedkafka.EmbeddedKafka;
import dev.kaizen.serving.Serving;
import dev.kaizen.serving.api.ChatServer;
import dev.kaizen.serving.follow.KafkaClients;
import dev.kaizen.serving.follow.ModelFollower;
import dev.kaizen.serving.follow.VersionFollower;

/** What the serving benchmarks measure: the tiny model served on loopback, with an in-process broker and store. */
final class BenchServing implements AutoCloseable {

    final Path work;
    final Path base;
    final CheckpointStore store;
    final EmbeddedKafka kafka;
    final Serving serving;

    BenchServing(String name) throws IOException {
        work = Files.createTempDirectory("kaizen-bench-" + name + "-");
        base = work.resolve("model");
        ModelPresets.TINY.write(base, 1);
        store = new CheckpointStore(work.resolve("store").toUri().toString());
        kafka = EmbeddedKafka.start();
        kafka.createTopics(1, "model-updates", "chat-responses", "chat-feedback");
        serving = Serving.start(new Serving.Options(new ModelFollower.Options(base,
                new VersionFollower.Options("tiny", KafkaClients.of(kafka.bootstrapServers()), "model-updates", store.root()),
                Device.cpu()), "chat-responses", "chat-feedback", new ChatServer.Options("127.0.0.1", 0, null, 1 << 20)));
    }

    String url(String path) {
        return "http://127.0.0.1:" + serving.port() + path;
    }

    @Override
    public void close() throws IOException {
        serving.close();
        kafka.close();
        FileUtils.deleteDirectory(work.toFile());
    }
}
