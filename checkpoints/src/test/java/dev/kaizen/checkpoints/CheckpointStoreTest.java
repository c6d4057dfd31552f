package dev.kaizen.checkpoints;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.commons.io.FileUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.schemas.CheckpointFormat;
import dev.kaizen.schemas.ModelUpdate;

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

    /** A checkpoint is deleted whole, and only inside the store: an announcement cannot make the store delete anything else. */
    @Test
    void deleteRemovesOneCheckpointInsideTheStore() throws Exception {
        CheckpointStore store = new CheckpointStore(tmp.resolve("store").toUri().toString());
        CheckpointStore.Stored gone = store.put("m", checkpoint("w1"));
        CheckpointStore.Stored kept = store.put("m", checkpoint("w2"));
        store.delete(gone.uri());
        assertThat(Path.of(java.net.URI.create(gone.uri()))).doesNotExist();
        store.fetch(kept, tmp.resolve("copy"));
        Path outside = checkpoint("w3");
        assertThatThrownBy(() -> store.delete(outside.toUri().toString())).hasMessageContaining("outside the checkpoint store");
        assertThatThrownBy(() -> store.delete(kept.uri() + "/../../../local-w3")).hasMessageContaining("outside the checkpoint store");
        assertThat(outside).isDirectory();
    }

    /** A root may be a plain path, as Flink reads one, or end in a slash; either way the same uris come out. */
    @Test
    void aPlainPathOrATrailingSlashNamesTheSameStore() throws Exception {
        Path root = tmp.resolve("store");
        CheckpointStore plain = new CheckpointStore(root.toString());
        CheckpointStore.Stored stored = plain.put("m", checkpoint("w1"));
        assertThat(stored.uri()).isEqualTo(root + "/m/" + stored.sha256());
        plain.fetch(stored, tmp.resolve("copy"));
        assertThat(Files.readString(tmp.resolve("copy/adapter_model.safetensors"))).isEqualTo("w1");

        CheckpointStore slashed = new CheckpointStore(root.toUri().toString());
        assertThat(slashed.root()).isEqualTo(root.toUri().toString().replaceAll("/$", "")).doesNotEndWith("/");
        assertThat(slashed.put("m", checkpoint("w2")).uri()).doesNotContain("store//").endsWith("/store/m/" + CheckpointStore.describe(checkpoint("w2")).sha256());
    }

    /** Only the files directly in a checkpoint's directory are its content. */
    @Test
    void aCheckpointIsItsRegularFilesOnly() throws Exception {
        Path dir = checkpoint("w1");
        String before = CheckpointStore.describe(dir).sha256();
        Files.createDirectories(dir.resolve("logs"));
        assertThat(CheckpointStore.describe(dir).sha256()).isEqualTo(before);
        assertThat(CheckpointStore.hashFiles(dir)).containsOnlyKeys("adapter_config.json", "adapter_model.safetensors");
    }

    /**
     * Two writers of the same content race: the other's copy lands between our check and our move.
     * Ours is refused, theirs is as good, and our staging copy is cleared away; a move that fails
     * with nothing at the target is an error.
     */
    @Test
    void aWriterThatLosesTheRaceToTheSameContentTakesTheWinnersCopy() throws Exception {
        Path root = tmp.resolve("store");
        CheckpointStore winner = new CheckpointStore(root.toUri().toString());
        CheckpointStore loser = new CheckpointStore(root.toUri().toString(), new ForwardingFiles() {
            @Override
            public boolean rename(URI from, URI to) throws IOException {
                winner.put("m", checkpoint("w1"));
                return StoreFiles.NIO.rename(from, to);
            }
        });
        CheckpointStore.Stored stored = loser.put("m", checkpoint("w1"));
        CheckpointStore.Stored local = CheckpointStore.describe(checkpoint("w1"));
        assertThat(stored).isEqualTo(new CheckpointStore.Stored(root.toUri() + "m/" + local.sha256(), local.sha256(), local.files()));
        try (var list = Files.list(root.resolve("m"))) {
            assertThat(list.map(p -> p.getFileName().toString())).containsExactly(stored.sha256());
        }

        CheckpointStore stuck = new CheckpointStore(root.toUri().toString(), new ForwardingFiles() {
            @Override
            public boolean rename(URI from, URI to) {
                return false;
            }
        });
        assertThatThrownBy(() -> stuck.put("m", checkpoint("w3"))).isInstanceOf(IOException.class).hasMessageContaining("could not move");
    }

    /** Flink ships the store to its task managers: it arrives whole, over the one NIO instance. */
    @Test
    void theStoreSurvivesSerialization() throws Exception {
        CheckpointStore store = new CheckpointStore(tmp.resolve("store").toUri().toString());
        var bytes = new ByteArrayOutputStream();
        try (var out = new ObjectOutputStream(bytes)) {
            out.writeObject(store);
            out.writeObject(StoreFiles.NIO);
        }
        try (var in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            CheckpointStore copy = (CheckpointStore) in.readObject();
            assertThat(in.readObject()).isSameAs(StoreFiles.NIO);
            assertThat(copy.root()).isEqualTo(store.root());
            assertThat(copy.put("m", checkpoint("w1"))).isEqualTo(store.put("m", checkpoint("w1")));
        }
    }

    @Test
    void anAnnouncementNamesItsCheckpoint() {
        ModelUpdate update = ModelUpdate.newBuilder().setModelId("m").setVersion(2).setParentVersion(1).setFormat(CheckpointFormat.ADAPTER)
                .setUri("file:///store/m/" + "a".repeat(64)).setSha256("a".repeat(64)).setFiles(Map.of("f", "b".repeat(64)))
                .setCreatedAt(java.time.Instant.EPOCH).setFeedbackCount(1).setMetrics(Map.of()).setBaseModel("base").setRejectionReason(null).build();
        assertThat(CheckpointStore.Stored.of(update))
                .isEqualTo(new CheckpointStore.Stored("file:///store/m/" + "a".repeat(64), "a".repeat(64), Map.of("f", "b".repeat(64))));
    }

    /** NIO's files, for a test to change one operation. */
    private abstract static class ForwardingFiles implements StoreFiles {
        @Override
        public boolean exists(URI uri) throws IOException {
            return StoreFiles.NIO.exists(uri);
        }

        @Override
        public java.io.OutputStream create(URI file) throws IOException {
            return StoreFiles.NIO.create(file);
        }

        @Override
        public java.io.InputStream open(URI file) throws IOException {
            return StoreFiles.NIO.open(file);
        }

        @Override
        public void deleteRecursively(URI dir) throws IOException {
            StoreFiles.NIO.deleteRecursively(dir);
        }
    }
}
