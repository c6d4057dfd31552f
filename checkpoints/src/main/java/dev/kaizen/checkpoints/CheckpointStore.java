package dev.kaizen.checkpoints;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Stream;

import dev.kaizen.schemas.ModelUpdate;

/**
 * Model checkpoints, through {@link StoreFiles} (file:// here, s3:// or hdfs:// in production):
 * each is written once under {@code <root>/<model_id>/<sha256>/}, content-addressed, so a
 * version's directory never changes once announced and a replayed step that writes the same
 * bytes finds them already there. The sha256 of a checkpoint is that of its manifest, the
 * {@code sha256sum} listing of its files sorted by name ("hex␠␠name\n" per file), so
 * {@code sha256sum -c} can check a downloaded copy.
 */
public final class CheckpointStore implements Serializable {

    /** Where a checkpoint lives, its content address, and each file's sha256. */
    public record Stored(String uri, String sha256, Map<String, String> files) {

        /** The checkpoint a version announcement names. */
        public static Stored of(ModelUpdate version) {
            return new Stored(version.getUri(), version.getSha256(), version.getFiles());
        }
    }

    private final String root;
    private final StoreFiles fs;

    /** A store under {@code root} read and written through java.nio. */
    public CheckpointStore(String root) {
        this(root, StoreFiles.NIO);
    }

    public CheckpointStore(String root, StoreFiles fs) {
        this.root = root.endsWith("/") ? root.substring(0, root.length() - 1) : root;
        this.fs = fs;
    }

    public String root() {
        return root;
    }

    /** Puts the files of {@code local} (a flat directory) in the store, unless the same content is already there. */
    public Stored put(String modelId, Path local) throws IOException {
        Stored here = describe(local);
        Map<String, String> files = here.files();
        String sha = here.sha256();
        // Any character that could mean something in a path becomes '_'; ids that collide so still
        // cannot mix checkpoints, since the content address is the last segment.
        String modelDir = root + "/" + modelId.replaceAll("[^A-Za-z0-9_-]", "_");
        URI target = URI.create(modelDir + "/" + sha);
        if (!fs.exists(target)) {
            String staging = modelDir + "/.staging-" + UUID.randomUUID();
            for (String name : files.keySet()) {
                try (OutputStream out = fs.create(URI.create(staging + "/" + name))) {
                    Files.copy(local.resolve(name), out);
                }
            }
            // Another writer of the same content may have won the race; its copy is as good as ours.
            if (!fs.rename(URI.create(staging), target) && !fs.exists(target)) {
                throw new IOException("could not move " + staging + " to " + target);
            }
            fs.deleteRecursively(URI.create(staging));
        }
        return new Stored(target.toString(), sha, files);
    }

    /**
     * Copies a stored checkpoint into {@code local}, failing unless it lies inside this store and
     * every file and the manifest match what was announced: an announcement names what to read,
     * so it must not be able to point a reader anywhere else.
     */
    public void fetch(Stored stored, Path local) throws IOException {
        if (!manifestSha256(stored.files()).equals(stored.sha256())) {
            throw new IOException("the file list of " + stored.uri() + " does not hash to its sha256 " + stored.sha256());
        }
        URI dir = inside(stored.uri());
        // On a local file system a link inside the store could still lead out of it (object stores have no links).
        String scheme = dir.getScheme();
        Path realRoot = scheme == null || scheme.equals("file") ? StoreFiles.path(URI.create(root)).toRealPath() : null;
        for (String name : stored.files().keySet()) {
            if (name.isEmpty() || name.contains("/") || name.contains("\\") || name.equals(".") || name.equals("..")) {
                throw new IOException(stored.uri() + " announces a file named '" + name + "'; checkpoints are flat directories");
            }
            if (realRoot != null) {
                checkNoLinkOut(child(dir, name), realRoot);
            }
        }
        Files.createDirectories(local);
        for (var e : stored.files().entrySet()) {
            MessageDigest md = digest();
            try (InputStream in = new DigestInputStream(fs.open(child(dir, e.getKey())), md)) {
                Files.copy(in, local.resolve(e.getKey()));
            }
            String actual = HexFormat.of().formatHex(md.digest());
            if (!actual.equals(e.getValue())) {
                throw new IOException(stored.uri() + "/" + e.getKey() + " has sha256 " + actual + ", not the announced " + e.getValue());
            }
        }
    }

    /** Deletes the checkpoint directory {@code uri} names; refuses one outside this store. */
    public void delete(String uri) throws IOException {
        fs.deleteRecursively(inside(uri));
    }

    /** The checkpoint directory {@code uri} names, if it lies under this store's root; anything else is refused. */
    private URI inside(String uri) throws IOException {
        URI target;
        try {
            target = new URI(uri);
        } catch (URISyntaxException e) {
            throw new IOException("'" + uri + "' is not a URI", e);
        }
        URI base = URI.create(root);
        String path = target.getPath();
        boolean under = Objects.equals(target.getScheme(), base.getScheme()) && Objects.equals(target.getAuthority(), base.getAuthority())
                && path != null && path.startsWith(base.getPath() + "/") && Arrays.stream(path.split("/")).noneMatch(".."::equals);
        if (!under) {
            throw new IOException(uri + " is outside the checkpoint store " + root);
        }
        return target;
    }

    private static URI child(URI dir, String name) {
        String d = dir.toString();
        return URI.create((d.endsWith("/") ? d : d + "/") + name);
    }

    private void checkNoLinkOut(URI file, Path realRoot) throws IOException {
        Path real = StoreFiles.path(file).toRealPath();
        if (!real.startsWith(realRoot)) {
            throw new IOException(file + " leads out of the checkpoint store " + root + " (to " + real + ")");
        }
    }

    /** A local directory as it would be stored: its own URI, its content address and each file's sha256. */
    public static Stored describe(Path dir) throws IOException {
        Map<String, String> files = hashFiles(dir);
        return new Stored(dir.toUri().toString(), manifestSha256(files), files);
    }

    /** Each regular file directly in {@code dir}, by name, with its sha256. */
    public static Map<String, String> hashFiles(Path dir) throws IOException {
        Map<String, String> files = new TreeMap<>();
        try (Stream<Path> list = Files.list(dir)) {
            for (Path f : list.filter(Files::isRegularFile).toList()) {
                try (InputStream in = Files.newInputStream(f)) {
                    files.put(f.getFileName().toString(), sha256(in));
                }
            }
        }
        return files;
    }

    /** The sha256 of the sha256sum listing of {@code files} (name → hex sha256), sorted by name. */
    public static String manifestSha256(Map<String, String> files) {
        StringBuilder manifest = new StringBuilder();
        new TreeMap<>(files).forEach((name, sha) -> manifest.append(sha).append("  ").append(name).append('\n'));
        return HexFormat.of().formatHex(digest().digest(manifest.toString().getBytes(StandardCharsets.UTF_8)));
    }

    public static String sha256(InputStream in) throws IOException {
        MessageDigest md = digest();
        try (DigestInputStream din = new DigestInputStream(in, md)) {
            din.transferTo(OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
