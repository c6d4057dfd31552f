package dev.kaizen.operators.release;

import java.io.Serializable;
import java.time.Duration;

/**
 * When accepted steps become a release, and the gate a release must pass. A candidate is made
 * after {@code everySteps} accepted steps, or {@code maxWait} after the first step since the last
 * release, whichever comes first. {@code goldenSet} names a TRL prompt/completion JSONL readable
 * from every TaskManager (none: the golden check is skipped); a candidate's mean NLL per
 * completion token on it may exceed the last release's by at most {@code maxGoldenNllIncrease} nats,
 * the mean length of its greedy answers to the golden prompts may change by at most
 * {@code maxAnswerLengthFactor} either way, and their distinct-2 may not fall under
 * {@code minDistinct2Ratio} of the last release's.
 * {@code holdoutFraction} of the settled samples ({@link HoldOut}) never train; the newest
 * {@code holdoutSize} of them are kept per model, and a candidate's KTO loss on them may exceed the
 * last release's by at most {@code maxHoldoutLossIncrease}. The job's configuration checks the
 * values, naming each option.
 */
public record ReleaseConfig(int everySteps, Duration maxWait, String goldenSet, double maxGoldenNllIncrease, double maxAnswerLengthFactor,
                            double minDistinct2Ratio, double holdoutFraction, int holdoutSize, double maxHoldoutLossIncrease)
        implements Serializable {}
