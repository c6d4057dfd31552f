package dev.kaizen.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

/**
 * {@code bench pipeline} on a few thousand events: the job and the naive baseline both run at
 * parallelism 2 and 1 on a real broker and MiniCluster, settle the same samples (every vote of
 * the bench), and the last line is the ratio. How fast either is, is the bench's to print.
 */
class PipelineBenchTest {

    @Test
    void theJobAndTheNaiveBaselineEmitTheSameSamplesAndTheRatioComesLast() {
        CliRun run = CliRun.of("bench", "pipeline", "--events", "4000");
        assertThat(run.exitCode()).as(run.out() + run.err()).isZero();
        for (String line : new String[] {"kaizen   parallelism 2", "baseline parallelism 2", "kaizen   parallelism 1", "baseline parallelism 1"}) {
            Matcher m = Pattern.compile(Pattern.quote(line) + ": [0-9,]+ events/s, [0-9.]+ CPU s per million events, [0-9.]+ MB of state "
                    + "per million answers \\((\\d+) samples\\)").matcher(run.out());
            assertThat(m.find()).as(line + " in\n" + run.out()).isTrue();
            assertThat(Integer.parseInt(m.group(1))).isEqualTo(4000);
        }
        String[] lines = run.out().strip().split("\n");
        assertThat(lines[lines.length - 1]).matches("ratio [0-9]+\\.[0-9]{2}");
    }
}
