package dev.kaizen.serving;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.checkpoints.CheckpointStore;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.serving.publish.VersionPublisher;

/** Real adapter checkpoints, each seed its own content, stored and announced as versions of model "tiny". */
public final class Announcements {

    private final LlamaForCausalLM base;
    private final Path scratch;
    private final VersionPublisher publisher;

    public Announcements(LlamaForCausalLM base, CheckpointStore store, Path scratch, String bootstrapServers) {
        this.base = base;
        this.scratch = scratch;
        this.publisher = new VersionPublisher(store, bootstrapServers);
    }

    public ModelUpdate version(long version, long parent, long seed) throws IOException {
        Path local = scratch.resolve("adapter-" + UUID.randomUUID());
        try (LoraAdapter adapter = LoraAdapter.attach(base, new LoraAdapter.Config(4, 8, 0, LoraAdapter.ALL_TARGETS), seed)) {
            adapter.save(local, "tiny-base");
        }
        return publisher.store("tiny", version, parent, local, "tiny-base", 16, Map.of("loss", 0.69));
    }

    public void send(String topic, boolean commit, ModelUpdate... updates) {
        publisher.send(topic, commit, updates);
    }
}
