package dev.kaizen.operators.accumulate;

import java.util.List;

import dev.kaizen.operators.settle.SettledVote;

/** A mini-batch of one model's settled samples: one KTO step on those not held out for evaluation. */
public record KtoBatch(String modelId, List<SettledVote> samples) {}
