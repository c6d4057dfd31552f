package dev.kaizen.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

/**
 * {@code bench train} on the tiny preset: the matmul rate it measures in the same run comes first,
 * then each mode's step with its model FLOPs as a share of that rate. How fast, is the bench's to print.
 */
class TrainBenchTest {

    @Test
    void eachModePrintsItsStepAgainstTheMatmulRateMeasuredInTheSameRun() {
        CliRun run = CliRun.of("bench", "train", "--presets", "tiny", "--steps", "1", "--batch-size", "2");
        assertThat(run.exitCode()).as(run.out() + run.err()).isZero();
        Matcher peak = Pattern.compile("tiny: fp32 matmul peak ([0-9.]+) GFLOP/s \\(DJL on cpu\\(\\): the model's projections and head "
                + "at (\\d+) tokens, its batch\\)").matcher(run.out());
        assertThat(peak.find()).as(run.out()).isTrue();
        assertThat(Double.parseDouble(peak.group(1))).isPositive();
        for (String mode : new String[] {"lora", "full"}) {
            Matcher m = Pattern.compile("tiny +" + mode + " +" + peak.group(2) + " +[0-9.]+ +[0-9.]+ +([0-9.]+) +(\\d+)% +\\d+").matcher(run.out());
            assertThat(m.find()).as(mode + " in\n" + run.out()).isTrue();
            assertThat(Double.parseDouble(m.group(1))).isPositive();
        }
    }
}
