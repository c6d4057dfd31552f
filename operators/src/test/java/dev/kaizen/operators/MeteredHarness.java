package dev.kaizen.operators;

import java.util.Map;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.metrics.groups.InternalOperatorMetricGroup;
import org.apache.flink.runtime.metrics.groups.UnregisteredMetricGroups;
import org.apache.flink.runtime.metrics.util.InterceptingOperatorMetricGroup;
import org.apache.flink.runtime.operators.testutils.MockEnvironmentBuilder;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;

/**
 * A keyed process function in Flink's test harness, with the metrics it registers kept for the
 * test to read (the plain harness gives operators a metric group that keeps nothing).
 */
public final class MeteredHarness<K, I, O> implements AutoCloseable {

    private final InterceptingOperatorMetricGroup metrics = new InterceptingOperatorMetricGroup();
    private final KeyedOneInputStreamOperatorTestHarness<K, I, O> harness;

    public MeteredHarness(KeyedProcessFunction<K, I, O> function, KeySelector<I, K> key, TypeInformation<K> keyType) throws Exception {
        var task = new UnregisteredMetricGroups.UnregisteredTaskMetricGroup() {
            @Override
            public InternalOperatorMetricGroup getOrAddOperator(OperatorID id, String name, Map<String, String> additionalVariables) {
                return metrics;
            }
        };
        harness = new KeyedOneInputStreamOperatorTestHarness<>(new KeyedProcessOperator<>(function), key, keyType,
                new MockEnvironmentBuilder().setMetricGroup(task).build());
        harness.open();
    }

    public KeyedOneInputStreamOperatorTestHarness<K, I, O> harness() {
        return harness;
    }

    public long count(String counter) {
        return ((Counter) metrics.get(counter)).getCount();
    }

    public Object gauge(String gauge) {
        return ((Gauge<?>) metrics.get(gauge)).getValue();
    }

    @Override
    public void close() throws Exception {
        harness.close();
    }
}
