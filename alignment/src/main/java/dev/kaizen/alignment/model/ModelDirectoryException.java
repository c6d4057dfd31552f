package dev.kaizen.alignment.model;

import java.nio.file.Path;

/** A model directory, or one of its files, that Kaizen cannot use; the message names the file. */
public class ModelDirectoryException extends RuntimeException {

    public ModelDirectoryException(Path file, String problem) {
        super(file + ": " + problem);
    }

    public ModelDirectoryException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}
