package dev.kaizen.alignment.train;

import java.util.concurrent.locks.ReentrantLock;

/**
 * DJL allows one open GradientCollector per JVM; trainers that share a JVM (several update
 * subtasks in one TaskManager) hold this lease around each forward-and-backward, taking turns fairly.
 */
public final class GradientLease implements AutoCloseable {

    private static final ReentrantLock LOCK = new ReentrantLock(true);

    private GradientLease() {}

    public static GradientLease acquire() {
        LOCK.lock();
        return new GradientLease();
    }

    @Override
    public void close() {
        LOCK.unlock();
    }
}
