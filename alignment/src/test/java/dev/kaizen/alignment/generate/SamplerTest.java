package dev.kaizen.alignment.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

class SamplerTest {

    private static final float[] LOGITS = {0.1f, 2.0f, (float) Math.log(3) + 2.0f, -1f, 1.5f};

    private static SamplingParams params(double temperature, int topK, double topP) {
        return new SamplingParams(8, temperature, topK, topP, 0, List.of(), true);
    }

    @Test
    void greedyAndDegenerateFiltersPickTheArgmax() {
        Random r = new Random(1);
        assertThat(Sampler.next(LOGITS, params(0, 0, 1), r)).isEqualTo(2);
        for (int i = 0; i < 100; i++) {
            assertThat(Sampler.next(LOGITS, params(1, 1, 1), r)).isEqualTo(2);
            assertThat(Sampler.next(LOGITS, params(1, 0, 1e-6), r)).isEqualTo(2);
        }
    }

    @Test
    void topKTwoSamplesTheTwoBestInProportion() {
        // Among the best two, p(2)/p(1) = 3, so p(2) = 0.75.
        Random r = new Random(7);
        int twos = 0;
        int n = 40_000;
        for (int i = 0; i < n; i++) {
            int k = Sampler.next(LOGITS, params(1, 2, 1), r);
            assertThat(k).isIn(1, 2);
            twos += k == 2 ? 1 : 0;
        }
        assertThat(twos / (double) n).isCloseTo(0.75, within(0.01));
    }

    @Test
    void topPKeepsTheSmallestHeadReachingTheMass() {
        double[] p = softmax(LOGITS);
        double head = p[2] + p[1];
        Random r = new Random(3);
        int ones = 0;
        for (int i = 0; i < 2_000; i++) {
            int token = Sampler.next(LOGITS, params(1, 0, head - 1e-9), r);
            assertThat(token).isIn(1, 2);
            ones += token == 1 ? 1 : 0;
        }
        // Both of the head are drawn, renormalised: p1 / (p1 + p2) = 1/4 (p2 = 3·p1), 500 ± 60 of 2000 (3σ).
        assertThat(ones).isBetween(440, 560);
    }

    @Test
    void aSeedReproducesTheSameDraws() {
        int[] a = new int[50];
        int[] b = new int[50];
        Random ra = new Random(42);
        Random rb = new Random(42);
        for (int i = 0; i < 50; i++) {
            a[i] = Sampler.next(LOGITS, params(1.3, 0, 0.95), ra);
            b[i] = Sampler.next(LOGITS, params(1.3, 0, 0.95), rb);
        }
        assertThat(a).isEqualTo(b);
        assertThat(java.util.Arrays.stream(a).distinct().count()).isGreaterThan(1);
    }

    @Test
    void nonsenseParametersAreRefused() {
        assertThatThrownBy(() -> params(-1, 0, 1)).hasMessageContaining("temperature");
        assertThatThrownBy(() -> params(1, -2, 1)).hasMessageContaining("top-k");
        assertThatThrownBy(() -> params(1, 0, 0)).hasMessageContaining("top-p");
        assertThatThrownBy(() -> new SamplingParams(0, 1, 0, 1, 0, List.of(), true)).hasMessageContaining("max new tokens");
    }

    private static double[] softmax(float[] logits) {
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp(logits[i]);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }
}
