package dev.kaizen.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

/**
 * {@code bench train} on the tiny preset: for each batch shape, the matmul rate it measures in the
 * same run comes first, then each mode's step with its model FLOPs as a share of that rate. How
 * fast, is the bench's to print.
 */
class TrainBenchTest {

    @Test
    void eachCaseAndModePrintsItsStepAgainstTheMatmulRateMeasuredInTheSameRun() {
        CliRun run = CliRun.of("bench", "train", "--presets", "tiny", "--long-presets", "tiny", "--steps", "1", "--batch-size", "2");
        assertThat(run.exitCode()).as(run.out() + run.err()).isZero();
        String[] cases = {"batch of 2 two-style rows", "16 answers of 512 tokens"};
        int from = 0;
        for (String name : cases) {
            Matcher peak = Pattern.compile("tiny, " + name + " \\((\\d+) tokens a step, (\\d+) of them predicting an answer token\\): "
                    + "fp32 matmul peak ([0-9.]+) GFLOP/s").matcher(run.out());
            assertThat(peak.find(from)).as(name + " in\n" + run.out()).isTrue();
            assertThat(Double.parseDouble(peak.group(3))).isPositive();
            assertThat(Long.parseLong(peak.group(2))).isPositive().isLessThan(Long.parseLong(peak.group(1)));
            if (name.startsWith("16")) {
                // Every answer runs past the max-length: 16 sequences cut to 512, 511 positions of each predicting the answer.
                assertThat(peak.group(1)).isEqualTo("8192");
                assertThat(peak.group(2)).isEqualTo("8176");
            }
            for (String mode : new String[] {"lora", "full"}) {
                Matcher m = Pattern.compile("tiny +" + mode + " +" + peak.group(1) + " +[0-9.]+ +[0-9.]+ +([0-9.]+) +(\\d+)% +\\d+")
                        .matcher(run.out());
                assertThat(m.find(peak.end())).as(mode + " in\n" + run.out()).isTrue();
                assertThat(Double.parseDouble(m.group(1))).isPositive();
                from = m.end();
            }
        }
    }
}
