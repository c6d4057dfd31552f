package dev.kaizen.alignment.weights;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Golden bit patterns from IEEE 754 binary16 and bfloat16, rounding to nearest even. */
class DtypeTest {

    @Test
    void halfGoldenValues() {
        assertThat(Dtype.floatToHalf(1.0f)).isEqualTo((short) 0x3C00);
        assertThat(Dtype.floatToHalf(-2.0f)).isEqualTo((short) 0xC000);
        assertThat(Dtype.floatToHalf(65504f)).isEqualTo((short) 0x7BFF);          // largest finite
        assertThat(Dtype.floatToHalf(65520f)).isEqualTo((short) 0x7C00);          // rounds up to infinity
        assertThat(Dtype.floatToHalf(0x1p-24f)).isEqualTo((short) 0x0001);        // smallest subnormal
        assertThat(Dtype.floatToHalf(0x1p-25f)).isEqualTo((short) 0x0000);        // tie to even: zero
        assertThat(Dtype.floatToHalf(0x1.8p-25f)).isEqualTo((short) 0x0001);      // above the tie
        assertThat(Dtype.floatToHalf(1 + 0x1p-11f)).isEqualTo((short) 0x3C00);    // tie, even stays
        assertThat(Dtype.floatToHalf(1 + 0x3p-11f)).isEqualTo((short) 0x3C02);    // tie, odd rounds up
        assertThat(Dtype.floatToHalf(Float.NaN) & 0x7C00).isEqualTo(0x7C00);
        assertThat(Dtype.halfToFloat((short) 0x3555)).isEqualTo(0.33325195f);
        assertThat(Dtype.halfToFloat((short) 0x8001)).isEqualTo(-0x1p-24f);
        assertThat(Dtype.halfToFloat((short) 0xFC00)).isEqualTo(Float.NEGATIVE_INFINITY);
    }

    @Test
    void everyHalfSurvivesWideningAndNarrowing() {
        for (int bits = 0; bits <= 0xFFFF; bits++) {
            float f = Dtype.halfToFloat((short) bits);
            if (!Float.isNaN(f)) {
                assertThat(Dtype.floatToHalf(f) & 0xFFFF).as("half 0x%04X", bits).isEqualTo(bits);
            }
            float b = Dtype.bfloat16ToFloat((short) bits);
            if (!Float.isNaN(b)) {
                assertThat(Dtype.floatToBfloat16(b) & 0xFFFF).as("bf16 0x%04X", bits).isEqualTo(bits);
            }
        }
    }

    @Test
    void bfloat16GoldenValues() {
        assertThat(Dtype.floatToBfloat16(1.0f)).isEqualTo((short) 0x3F80);
        assertThat(Dtype.floatToBfloat16(Float.intBitsToFloat(0x3F808000))).isEqualTo((short) 0x3F80); // tie, even
        assertThat(Dtype.floatToBfloat16(Float.intBitsToFloat(0x3F818000))).isEqualTo((short) 0x3F82); // tie, odd up
        assertThat(Dtype.floatToBfloat16(Float.intBitsToFloat(0x3F808001))).isEqualTo((short) 0x3F81);
        assertThat(Float.isNaN(Dtype.bfloat16ToFloat(Dtype.floatToBfloat16(Float.NaN)))).isTrue();
        assertThat(Dtype.bfloat16ToFloat((short) 0x4049)).isEqualTo(3.140625f);
    }
}
