package dev.kaizen.operators.release;

import java.util.Map;
import java.util.TreeMap;

import dev.kaizen.checkpoints.CheckpointStore;

/**
 * The accepted steps since a model's last release: the newest step's stored checkpoint, how many
 * steps and samples lead there (and how many samples their batches held out), when the first of them was taken (processing time), and the
 * newest step's metrics. Kept in keyed state until it is released or refused (plain maps: Kryo
 * cannot rebuild the JDK's immutable ones).
 */
public record Candidate(String uri, String sha256, Map<String, String> files, int steps, long feedbackCount, long heldOutCount,
                        long firstStepAt, Map<String, Double> metrics) {

    public static Candidate first(CheckpointStore.Stored step, long samples, long heldOut, long now, Map<String, Double> metrics) {
        return new Candidate(step.uri(), step.sha256(), new TreeMap<>(step.files()), 1, samples, heldOut, now, new TreeMap<>(metrics));
    }

    public Candidate next(CheckpointStore.Stored step, long samples, long heldOut, Map<String, Double> metrics) {
        return new Candidate(step.uri(), step.sha256(), new TreeMap<>(step.files()), steps + 1, feedbackCount + samples,
                heldOutCount + heldOut, firstStepAt, new TreeMap<>(metrics));
    }

    public CheckpointStore.Stored checkpoint() {
        return new CheckpointStore.Stored(uri, sha256, files);
    }
}
