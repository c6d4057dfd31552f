package dev.kaizen.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

/**
 * {@code bench train} on the tiny preset: for each batch shape and mode, the step with its model
 * FLOPs as a share of the matmul rate measured in the same JVM around its steps. How fast, is the
 * bench's to print.
 */
class TrainBenchTest {

    @Test
    void eachCaseAndModePrintsItsStepAgainstTheMatmulRateMeasuredInTheSameRun() {
        CliRun run = CliRun.of("bench", "train", "--presets", "tiny", "--long-presets", "tiny", "--steps", "1", "--batch-size", "2");
        assertThat(run.exitCode()).as(run.out() + run.err()).isZero();
        String[] cases = {"batch of 2 two-style rows", "16 answers of 512 tokens"};
        int from = 0;
        for (String name : cases) {
            Matcher shape = Pattern.compile("tiny, " + name + " \\((\\d+) tokens a step, (\\d+) of them predicting an answer token\\); "
                    + "fp32 matmul peak: ").matcher(run.out());
            assertThat(shape.find(from)).as(name + " in\n" + run.out()).isTrue();
            assertThat(Long.parseLong(shape.group(2))).isPositive().isLessThan(Long.parseLong(shape.group(1)));
            if (name.startsWith("16")) {
                // Every answer runs past the max-length: 16 sequences cut to 512, 511 positions of each predicting the answer.
                assertThat(shape.group(1)).isEqualTo("8192");
                assertThat(shape.group(2)).isEqualTo("8176");
            }
            for (String mode : new String[] {"lora", "full"}) {
                Matcher m = Pattern.compile("tiny +" + mode + " +" + shape.group(1) + " +[0-9.]+ +([0-9.]+) +([0-9.]+) +([0-9.]+) +(\\d+)% +\\d+")
                        .matcher(run.out());
                assertThat(m.find(shape.end())).as(mode + " in\n" + run.out()).isTrue();
                double seconds = Double.parseDouble(m.group(1));
                double gflops = Double.parseDouble(m.group(2));
                double peak = Double.parseDouble(m.group(3));
                assertThat(gflops).isPositive();
                assertThat(peak).isPositive();
                assertThat(Integer.parseInt(m.group(4))).as("the share printed is model GFLOP/s over the peak")
                        .isCloseTo((int) Math.round(100 * gflops / peak), within(1));
                assertThat(seconds).isPositive();
                from = m.end();
            }
        }
    }
}
