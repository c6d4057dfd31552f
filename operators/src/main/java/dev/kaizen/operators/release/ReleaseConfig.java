package dev.kaizen.operators.release;

import java.io.Serializable;
import java.time.Duration;

/**
 * When accepted steps become a release, and the gate a release must pass. A candidate is made
 * after {@code everySteps} accepted steps, or {@code maxWait} after the first step since the last
 * release, whichever comes first. {@code goldenSet} names a TRL prompt/completion JSONL readable
 * from every TaskManager (none: the golden check is skipped); a candidate's mean NLL per
 * completion token on it may exceed the last release's by at most {@code maxGoldenNllIncrease} nats.
 * The job's configuration checks the values, naming each option.
 */
public record ReleaseConfig(int everySteps, Duration maxWait, String goldenSet, double maxGoldenNllIncrease) implements Serializable {}
