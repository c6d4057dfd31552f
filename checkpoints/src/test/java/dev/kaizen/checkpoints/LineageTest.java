package dev.kaizen.checkpoints;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.Map;
import java.util.TreeMap;

import org.junit.jupiter.api.Test;

import dev.kaizen.schemas.CheckpointFormat;
import dev.kaizen.schemas.ModelUpdate;

class LineageTest {

    private static ModelUpdate version(long v, long parent) {
        return ModelUpdate.newBuilder().setModelId("m").setVersion(v).setParentVersion(parent).setFormat(CheckpointFormat.ADAPTER)
                .setUri("file:///store/m/" + v).setSha256("0".repeat(64)).setFiles(Map.of()).setCreatedAt(Instant.EPOCH)
                .setFeedbackCount(16).setMetrics(Map.of()).setBaseModel("base").setRejectionReason(null).build();
    }

    @Test
    void aVersionIsReachableOnlyThroughAnUnbrokenChainOfVersionsNamingOlderParents() {
        TreeMap<Long, ModelUpdate> announced = new TreeMap<>();
        assertThat(Lineage.reachable(announced, 0)).isZero();
        announced.put(1L, version(1, 0));
        announced.put(2L, version(2, 1));
        announced.put(3L, version(3, 1));  // trained from 1: 2 was a canary rolled back
        announced.put(4L, version(4, 4));  // names itself: 4 and all after it are cut off
        announced.put(5L, version(5, 4));
        assertThat(Lineage.reachable(announced, 0)).isEqualTo(3);
        assertThat(Lineage.reachable(announced, 3)).isEqualTo(3);
        assertThat(Lineage.reachable(announced, 4)).isEqualTo(5);

        announced.remove(1L);  // a gap
        assertThat(Lineage.reachable(announced, 0)).isZero();
    }
}
