package dev.kaizen.checkpoints;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.commons.io.FileUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointStoreTest {

    @TempDir
    Path tmp;

    private Path checkpoint(String weights) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("local-" + weights));
        Files.writeString(dir.resolve("adapter_config.json"), "{}\n");
        Files.writeString(dir.resolve("adapter_model.safetensors"), weights);
        return dir;
    }

    @Test
    void theSha256IsThatOfTheSha256sumListingAndEqualContentIsStoredOnce() throws Exception {
        CheckpointStore store = new CheckpointStore(tmp.resolve("store").toUri().toString());
        CheckpointStore.Stored first = store.put("my/model", checkpoint("w1"));
        // printf '{}\n' | sha256sum; printf 'w1' | sha256sum
        String config = "ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356";
        String weights = "60c5590f72eef292f9545afc28bf63ca91d2016a0a288f90f9a32f89d3fffcaf";
        assertThat(first.files()).isEqualTo(Map.of("adapter_config.json", config, "adapter_model.safetensors", weights));
        // the same two lines as `sha256sum *`, piped through sha256sum
        assertThat(first.sha256()).isEqualTo("29d33993c4347561a4639ad4eb88b716bcfd4973518e53880e95d2890a09f5ab");
        assertThat(first.uri()).endsWith("/store/my_model/" + first.sha256());

        Path again = Files.createDirectories(tmp.resolve("again"));
        Files.copy(checkpoint("w1").resolve("adapter_config.json"), again.resolve("adapter_config.json"));
        Files.writeString(again.resolve("adapter_model.safetensors"), "w1");
        assertThat(store.put("my/model", again)).isEqualTo(first);
        assertThat(store.put("my/model", checkpoint("w2")).uri()).isNotEqualTo(first.uri());
        try (var list = Files.list(tmp.resolve("store/my_model"))) {
            assertThat(list.count()).isEqualTo(2);  // no staging directories left behind
        }
    }

    @Test
    void fetchRefusesAFileThatIsNotWhatWasAnnounced() throws Exception {
        CheckpointStore store = new CheckpointStore(tmp.resolve("store").toUri().toString());
        CheckpointStore.Stored stored = store.put("m", checkpoint("w1"));
        store.fetch(stored, tmp.resolve("copy"));
        assertThat(Files.readString(tmp.resolve("copy/adapter_model.safetensors"))).isEqualTo("w1");

        Map<String, String> lied = new HashMap<>(stored.files());
        lied.put("adapter_model.safetensors", "0".repeat(64));
        assertThatThrownBy(() -> store.fetch(new CheckpointStore.Stored(stored.uri(), stored.sha256(), lied), tmp.resolve("c2")))
                .hasMessageContaining("does not hash to its sha256");
        assertThatThrownBy(() -> store.fetch(new CheckpointStore.Stored(stored.uri(), CheckpointStore.manifestSha256(lied), lied),
                tmp.resolve("c3"))).hasMessageContaining("adapter_model.safetensors has sha256");
    }

    @Test
    void fetchReadsOnlyInsideTheStore() throws Exception {
        CheckpointStore store = new CheckpointStore(tmp.resolve("store").toUri().toString());
        CheckpointStore.Stored stored = store.put("m", checkpoint("w1"));
        Path outside = tmp.resolve("outside");
        FileUtils.copyDirectory(Path.of(java.net.URI.create(stored.uri()).getPath()).toFile(), outside.toFile());
        Files.createSymbolicLink(tmp.resolve("store/m/link"), outside);

        for (String uri : List.of(outside.toUri().toString(), stored.uri() + "/../../../outside", "s3://bucket/store/m/" + stored.sha256(),
                tmp.resolve("store").toUri() + "m/link")) {
            assertThatThrownBy(() -> store.fetch(new CheckpointStore.Stored(uri, stored.sha256(), stored.files()), tmp.resolve("c")))
                    .as(uri).isInstanceOf(IOException.class).hasMessageMatching(".*(outside the checkpoint store|leads out of).*");
        }
        Map<String, String> escaping = Map.of("../../outside/adapter_model.safetensors", stored.files().get("adapter_model.safetensors"));
        assertThatThrownBy(() -> store.fetch(new CheckpointStore.Stored(stored.uri(), CheckpointStore.manifestSha256(escaping), escaping),
                tmp.resolve("c"))).hasMessageContaining("flat directories");
        assertThat(tmp.resolve("c")).doesNotExist();
    }
}
