package dev.kaizen.operators.update;

import java.io.Serializable;

/**
 * What the checkpoint store keeps of each model: its last {@code keepReleases} releases, every
 * version a rollback named, and the newest step of the pending candidate; and, of anything else,
 * what a retained Flink checkpoint can restore to, Flink keeping the last {@code retainedCheckpoints}
 * ({@code execution.checkpointing.num-retained}). The rest is deleted.
 */
public record StoreRetention(int keepReleases, int retainedCheckpoints) implements Serializable {}
