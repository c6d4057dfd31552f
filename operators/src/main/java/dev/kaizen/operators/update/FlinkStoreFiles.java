package dev.kaizen.operators.update;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;

import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import dev.kaizen.checkpoints.StoreFiles;

/** The checkpoint store on Flink's FileSystem, so the job writes wherever the cluster's file system plugins reach. */
final class FlinkStoreFiles implements StoreFiles {

    @Override
    public boolean exists(URI uri) throws IOException {
        Path p = new Path(uri);
        return p.getFileSystem().exists(p);
    }

    @Override
    public OutputStream create(URI file) throws IOException {
        Path p = new Path(file);
        return p.getFileSystem().create(p, FileSystem.WriteMode.NO_OVERWRITE);
    }

    @Override
    public InputStream open(URI file) throws IOException {
        Path p = new Path(file);
        return p.getFileSystem().open(p);
    }

    @Override
    public boolean rename(URI from, URI to) throws IOException {
        Path source = new Path(from);
        return source.getFileSystem().rename(source, new Path(to));
    }

    @Override
    public void deleteRecursively(URI dir) throws IOException {
        Path p = new Path(dir);
        p.getFileSystem().delete(p, true);
    }
}
