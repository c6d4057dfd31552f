package dev.kaizen.operators.metrics;

import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;

/**
 * A stage of the loop's latency, in milliseconds, as a Flink histogram over its last
 * {@link #WINDOW} observations: Flink's Prometheus reporter serves it as a summary with quantiles
 * 0.5 to 0.999 ({@code flink_taskmanager_job_task_operator_<name>{quantile="0.99"}}).
 */
public final class Latency {

    static final int WINDOW = 1000;

    private Latency() {}

    public static Histogram register(MetricGroup group, String name) {
        return group.histogram(name, new DescriptiveStatisticsHistogram(WINDOW));
    }
}
