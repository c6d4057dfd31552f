package dev.kaizen.checkpoints;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * The few file operations the checkpoint store needs, on URIs. The job passes one over Flink's
 * FileSystem, so the store is wherever the cluster's file system plugins reach (s3://, hdfs://);
 * serving and the command line use {@link #NIO}: java.nio's file systems, {@code file://} built
 * in and any other scheme whose NIO provider is on the class path.
 */
public interface StoreFiles extends Serializable {

    boolean exists(URI uri) throws IOException;

    /** A new file, its parent directories made as needed; fails if the file exists. */
    OutputStream create(URI file) throws IOException;

    InputStream open(URI file) throws IOException;

    /** Moves a directory; false when the target exists already. */
    boolean rename(URI from, URI to) throws IOException;

    /** Deletes a directory and everything in it; nothing when it does not exist. */
    void deleteRecursively(URI dir) throws IOException;

    StoreFiles NIO = new Nio();

    /** A URI without a scheme is a local path, as Flink reads one. */
    static Path path(URI uri) {
        return uri.getScheme() == null ? Path.of(uri.getPath()) : Path.of(uri);
    }

    /** {@link StoreFiles} over java.nio. */
    final class Nio implements StoreFiles {

        private Nio() {}

        @Override
        public boolean exists(URI uri) {
            return Files.exists(path(uri));
        }

        @Override
        public OutputStream create(URI file) throws IOException {
            Path p = path(file);
            Files.createDirectories(p.getParent());
            return Files.newOutputStream(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        }

        @Override
        public InputStream open(URI file) throws IOException {
            return Files.newInputStream(path(file));
        }

        @Override
        public boolean rename(URI from, URI to) throws IOException {
            try {
                Files.move(path(from), path(to), StandardCopyOption.ATOMIC_MOVE);
                return true;
            } catch (FileSystemException e) {
                // An atomic move onto a directory that exists fails as a bare "Directory not empty" on Linux.
                if (Files.exists(path(to))) {
                    return false;
                }
                throw e;
            }
        }

        @Override
        public void deleteRecursively(URI dir) throws IOException {
            Path root = path(dir);
            if (!Files.exists(root)) {
                return;
            }
            try (Stream<Path> all = Files.walk(root)) {
                all.sorted(Comparator.reverseOrder()).forEach(p -> {
                    try {
                        Files.delete(p);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
        }

        /** One instance per JVM, also after deserialization. */
        private Object readResolve() {
            return NIO;
        }
    }
}
