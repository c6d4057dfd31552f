package dev.kaizen.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

/**
 * {@code bench serve} at its smallest: the server's latency, then a gateway's in front of it measured in
 * the same run against the server's own, then a version's swap. How fast, is the bench's to print.
 */
class ServeBenchTest {

    @Test
    void itPrintsTheServersLatencyAndWhatAGatewayInFrontAddsInTheSameRun() {
        CliRun run = CliRun.of("bench", "serve", "--clients", "1,2", "--requests", "6", "--max-tokens", "2", "--swaps", "1");
        assertThat(run.exitCode()).as(run.out() + run.err()).isZero();
        Matcher gateway = Pattern.compile(" 2 clients: straight p50 +([0-9.]+) ms, p99 +([0-9.]+) ms; through the gateway p50 +([0-9.]+) ms, "
                + "p99 +([0-9.]+) ms; added p50 ([-+][0-9.]+) ms, p99 ([-+][0-9.]+) ms").matcher(run.out());
        assertThat(gateway.find()).as(run.out()).isTrue();
        double straight = Double.parseDouble(gateway.group(1));
        double through = Double.parseDouble(gateway.group(3));
        assertThat(straight).isPositive();
        assertThat(Double.parseDouble(gateway.group(5))).isCloseTo(through - straight, within(1.0));
        assertThat(run.out()).containsPattern("commit of a version to its first answer: median [0-9.]+ s over 1 versions");
    }
}
