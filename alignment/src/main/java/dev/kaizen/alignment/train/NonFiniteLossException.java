package dev.kaizen.alignment.train;

import java.util.Map;

/** A step whose loss is NaN or infinite; it is never applied. */
public final class NonFiniteLossException extends RuntimeException {

    private final transient Map<String, Double> metrics;

    public NonFiniteLossException(Map<String, Double> metrics) {
        super("the loss is not finite: " + metrics);
        this.metrics = Map.copyOf(metrics);
    }

    public Map<String, Double> metrics() {
        return metrics;
    }
}
