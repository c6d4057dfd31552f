package dev.kaizen.serving.follow;

import java.util.concurrent.atomic.AtomicInteger;

import dev.kaizen.alignment.generate.Generator;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.schemas.ModelUpdate;

/**
 * One version in memory, shared by the requests that run on it. A request holds it from start to
 * finish ({@link #acquire()} … {@link #release()}), so a swap never changes the weights under a
 * request; the weights are freed when the follower has let go and the last request has finished.
 */
public final class ServedModel {

    private final long version;
    private final ModelUpdate update;
    private final LlamaForCausalLM model;
    private final Generator generator;
    // The follower's own hold counts as one, so a version is never freed while it is current.
    private final AtomicInteger holders = new AtomicInteger(1);

    ServedModel(long version, ModelUpdate update, LlamaForCausalLM model, Generator generator) {
        this.version = version;
        this.update = update;
        this.model = model;
        this.generator = generator;
    }

    public long version() {
        return version;
    }

    /** The announcement this version came from; null for the base model (version 0). */
    public ModelUpdate update() {
        return update;
    }

    public Generator generator() {
        return generator;
    }

    /** Takes a hold, unless the version has already been freed. */
    boolean acquire() {
        for (int n = holders.get(); n > 0; n = holders.get()) {
            if (holders.compareAndSet(n, n + 1)) {
                return true;
            }
        }
        return false;
    }

    /** Gives a hold back; the last one frees the weights. */
    public void release() {
        if (holders.decrementAndGet() == 0) {
            model.close();
        }
    }

    /** Whether the weights have been freed. */
    public boolean freed() {
        return holders.get() == 0;
    }
}
