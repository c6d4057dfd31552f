package dev.kaizen.alignment.data;

import java.nio.file.Path;

/** A row Kaizen cannot train on, named by file and line, or a file it cannot train on at all. */
public class DatasetException extends RuntimeException {

    public DatasetException(Path file, long line, String problem) {
        super(file + ":" + line + ": " + problem);
    }

    public DatasetException(Path file, String problem) {
        super(file + ": " + problem);
    }
}
