package dev.kaizen.operators.release;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.stream.IntStream;

import org.junit.jupiter.api.Test;

class HoldOutTest {

    /** printf 'resp-1' | sha256sum: 9a8fd09575cd0c25…; its top 53 bits over 2^53. */
    @Test
    void theHashIsTheTopOfTheResponseIdsSha256() {
        assertThat(HoldOut.unitHash("resp-1")).isEqualTo((0x9a8f_d095_75cd_0c25L >>> 11) * 0x1.0p-53);
    }

    @Test
    void theFractionOfResponsesHeldOutIsTheConfiguredOneAndTheSameEveryTime() {
        long held = IntStream.range(0, 20_000).filter(i -> HoldOut.isHeldOut("resp-" + i, 0.05)).count();
        assertThat(held).isBetween(900L, 1100L);
        assertThat(IntStream.range(0, 1000).allMatch(i -> HoldOut.isHeldOut("r" + i, 0.05) == HoldOut.isHeldOut("r" + i, 0.05))).isTrue();
        assertThat(IntStream.range(0, 1000).noneMatch(i -> HoldOut.isHeldOut("r" + i, 0))).isTrue();
        assertThat(IntStream.range(0, 1000).allMatch(i -> HoldOut.isHeldOut("r" + i, 1))).isTrue();
    }
}
