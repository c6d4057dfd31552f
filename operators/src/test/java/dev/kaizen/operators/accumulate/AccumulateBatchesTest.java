package dev.kaizen.operators.accumulate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;

import dev.kaizen.operators.MeteredHarness;
import dev.kaizen.operators.settle.SettledVote;
import dev.kaizen.schemas.ChatMessage;

class AccumulateBatchesTest {

    private static SettledVote sample(String model, String event, boolean desirable) {
        return new SettledVote(model, "r-" + event, "u-" + event, event, 0L, desirable, List.of(new ChatMessage("user", "Q?")), "A.", 1L, 0L);
    }

    private static KeyedOneInputStreamOperatorTestHarness<String, SettledVote, KtoBatch> harness(int size) throws Exception {
        return ProcessFunctionTestHarnesses.forKeyedProcessFunction(new AccumulateBatches(size, Duration.ofSeconds(30)),
                SettledVote::modelId, Types.STRING);
    }

    @Test
    void aFullBatchLeavesAtOnceWithTheRuleWeightsAndNothingStaysBehind() throws Exception {
        try (var h = harness(4)) {
            h.setProcessingTime(0);
            h.processElement(sample("tiny", "e1", true), 0);
            h.processElement(sample("other", "o1", false), 0);
            h.processElement(sample("tiny", "e2", false), 0);
            h.processElement(sample("tiny", "e3", false), 0);
            assertThat(h.extractOutputValues()).isEmpty();
            h.processElement(sample("tiny", "e4", false), 0);
            List<KtoBatch> out = h.extractOutputValues();
            assertThat(out).hasSize(1);
            KtoBatch batch = out.get(0);
            assertThat(batch.modelId()).isEqualTo("tiny");
            assertThat(batch.samples()).extracting(SettledVote::eventId).containsExactly("e1", "e2", "e3", "e4");
            h.setProcessingTime(60_000);
            assertThat(h.extractOutputValues()).hasSize(1);  // "other" has one sample: it waits for a second
            assertThat(h.numProcessingTimeTimers()).isEqualTo(1);
            h.processElement(sample("other", "o2", true), 60_000);
            h.setProcessingTime(200_000);
            assertThat(h.extractOutputValues()).extracting(KtoBatch::modelId).containsExactly("tiny", "other");
            assertThat(h.numKeyedStateEntries()).isZero();
            assertThat(h.numProcessingTimeTimers()).isZero();
        }
    }

    /** A lone sample's timeout is pushed back; a batch that then fills leaves at once and takes the new timeout with it. */
    @Test
    void aBatchThatFillsAfterItsTimeoutWasPushedBackLeavesNoTimerBehind() throws Exception {
        try (var h = harness(3)) {
            h.setProcessingTime(0);
            h.processElement(sample("tiny", "e1", true), 0);
            h.setProcessingTime(45_000);
            assertThat(h.extractOutputValues()).isEmpty();
            assertThat(h.numProcessingTimeTimers()).as("waiting another timeout").isEqualTo(1);
            h.processElement(sample("tiny", "e2", false), 45_000);
            h.processElement(sample("tiny", "e3", true), 45_000);
            assertThat(h.extractOutputValues()).hasSize(1);
            assertThat(h.numProcessingTimeTimers()).isZero();
            assertThat(h.numKeyedStateEntries()).isZero();
        }
    }

    /** What waits is seen by label on the gauges, what left on the batch counter. */
    @Test
    void theGaugesCountTheWaitingSamplesByLabelAndTheCounterTheBatches() throws Exception {
        try (var metered = new MeteredHarness<>(new AccumulateBatches(3, Duration.ofSeconds(30)), SettledVote::modelId, Types.STRING)) {
            var h = metered.harness();
            h.processElement(sample("tiny", "e1", true), 0);
            h.processElement(sample("other", "o1", false), 0);
            h.processElement(sample("tiny", "e2", false), 0);
            h.processElement(sample("tiny", "e3", false), 0);
            assertThat(metered.count("batches")).isEqualTo(1);
            h.processElement(sample("tiny", "e4", true), 0);
            h.processElement(sample("other", "o2", false), 0);
            assertThat(metered.gauge("pendingDesirable")).isEqualTo(1L);
            assertThat(metered.gauge("pendingUndesirable")).isEqualTo(2L);
        }
    }

    @Test
    void aBatchSmallerThanTwoIsRefused() throws Exception {
        assertThatThrownBy(() -> new AccumulateBatches(1, Duration.ofSeconds(1))).hasMessageContaining("at least 2");
        try (var h = harness(2)) {
            h.processElement(sample("tiny", "e1", true), 0);
            h.processElement(sample("tiny", "e2", false), 0);
            assertThat(h.extractOutputValues()).hasSize(1);
        }
    }
}
