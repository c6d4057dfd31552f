package dev.kaizen.operators.accumulate;

import java.util.List;

import dev.kaizen.operators.settle.SettledVote;

/** A mini-batch for one KTO step of one model, with its weights from the [1, 4/3] rule. */
public record KtoBatch(String modelId, List<SettledVote> samples, double desirableWeight, double undesirableWeight) {}
