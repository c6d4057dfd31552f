package dev.kaizen.alignment.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Embedding;

/** Row gathers that autograd differentiates. */
public final class Rows {

    private Rows() {}

    /** The rows {@code indices} of {@code table}; embedding's backward adds into the rows it took. */
    public static NDArray gather(NDArray indices, NDArray table) {
        return Embedding.embedding(indices, table, SparseFormat.DENSE).singletonOrThrow();
    }
}
