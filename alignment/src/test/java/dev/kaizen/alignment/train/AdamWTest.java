package dev.kaizen.alignment.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Map;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;

/** Golden values from the AdamW update written out by hand (bias-corrected moments, decoupled decay, global-norm clip). */
class AdamWTest {

    private static float[] run(AdamW.Config config, double lr, float[][] gradients, double[] norms) {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray p = m.create(new float[] {1.0f, -2.0f});
            try (AdamW adam = new AdamW(Map.of("p", p), config)) {
                for (int s = 0; s < gradients.length; s++) {
                    // loss = Σ p·g has gradient g.
                    try (GradientLease lease = GradientLease.acquire();
                         GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                        collector.backward(p.mul(m.create(gradients[s])).sum());
                    }
                    norms[s] = adam.step(lr);
                }
                assertThat(adam.steps()).isEqualTo(gradients.length);
            }
            return p.toFloatArray();
        }
    }

    @Test
    void twoPlainSteps() {
        double[] norms = new double[2];
        float[] p = run(new AdamW.Config(0.9, 0.999, 1e-8, 0, 0), 0.1, new float[][] {{0.5f, -0.1f}, {0.5f, -0.1f}}, norms);
        assertThat(p[0]).isCloseTo(0.8000000040f, within(1e-6f));
        assertThat(p[1]).isCloseTo(-1.8000000200f, within(1e-6f));
        assertThat(norms[0]).isCloseTo(0.5099019514, within(1e-6));
    }

    @Test
    void decoupledWeightDecay() {
        float[] p = run(new AdamW.Config(0.9, 0.999, 1e-8, 0.01, 0), 0.1, new float[][] {{0.5f, -0.1f}, {0.5f, -0.1f}}, new double[2]);
        assertThat(p[0]).isCloseTo(0.7981010040f, within(1e-6f));
        assertThat(p[1]).isCloseTo(-1.7961020200f, within(1e-6f));
    }

    @Test
    void clippingTheGlobalNormChangesTheMoments() {
        double[] norms = new double[2];
        float[] clipped = run(new AdamW.Config(0.9, 0.999, 1e-8, 0, 1.0), 0.1, new float[][] {{3, 4}, {0.3f, 0.4f}}, norms);
        assertThat(clipped[0]).isCloseTo(0.8067820368f, within(1e-5f));
        assertThat(clipped[1]).isCloseTo(-2.1932179641f, within(1e-5f));
        assertThat(norms).containsExactly(5.0, 0.5);
        float[] unclipped = run(new AdamW.Config(0.9, 0.999, 1e-8, 0, 0), 0.1, new float[][] {{3, 4}, {0.3f, 0.4f}}, new double[2]);
        assertThat(unclipped[0]).isCloseTo(0.8259189364f, within(1e-5f));
    }

    @Test
    void theScheduleWarmsUpThenDecays() {
        LearningRateSchedule cosine = new LearningRateSchedule(1.0, 10, 110, LearningRateSchedule.Decay.COSINE);
        assertThat(cosine.at(0)).isEqualTo(0.0);
        assertThat(cosine.at(5)).isEqualTo(0.5);
        assertThat(cosine.at(10)).isEqualTo(1.0);
        assertThat(cosine.at(35)).isCloseTo(0.8535533905932737, within(1e-12));
        assertThat(cosine.at(60)).isCloseTo(0.5, within(1e-12));
        assertThat(cosine.at(110)).isCloseTo(0.0, within(1e-12));
        LearningRateSchedule linear = new LearningRateSchedule(1.0, 10, 110, LearningRateSchedule.Decay.LINEAR);
        assertThat(linear.at(60)).isCloseTo(0.5, within(1e-12));
        assertThat(new LearningRateSchedule(2e-4, 0, 5, LearningRateSchedule.Decay.CONSTANT).at(4)).isEqualTo(2e-4);
    }
}
