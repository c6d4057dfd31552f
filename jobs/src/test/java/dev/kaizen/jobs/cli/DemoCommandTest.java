package dev.kaizen.jobs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo end to end, briefly: the base model is trained and cached, versions are announced and
 * printed, the summary and chart are written; a second run takes the cached model. How far the
 * rate climbs in ten minutes is measured by running the demo itself (see the README).
 */
class DemoCommandTest {

    @Test
    void aShortDemoAnnouncesVersionsAndLeavesItsSummaryAndChartAndASecondRunReusesTheModel(@TempDir Path tmp) throws Exception {
        Path cache = tmp.resolve("cache");
        CliRun first = CliRun.of("demo", "--minutes", "1.5", "--port", "0", "--cache-dir", cache.toString(),
                "--summary", tmp.resolve("summary.json").toString(), "--chart", tmp.resolve("chart.png").toString());
        assertThat(first.exitCode()).as(first.err()).isZero();
        assertThat(first.out()).contains("SFT-training").containsPattern("version +1 +samples +16 +loss");

        JsonNode summary = new ObjectMapper().readTree(tmp.resolve("summary.json").toFile());
        assertThat(summary.get("versions").asLong()).isPositive();
        assertThat(summary.get("votes").asLong()).isGreaterThanOrEqualTo(16);
        assertThat(summary.get("initial_rate").asDouble()).isBetween(0.0, 1.0);
        assertThat(summary.get("final_rate").asDouble()).isBetween(0.0, 1.0);
        assertThat(summary.get("rate_by_version")).isNotEmpty();
        byte[] png = Files.readAllBytes(tmp.resolve("chart.png"));
        assertThat(png).startsWith((byte) 0x89, (byte) 'P', (byte) 'N', (byte) 'G');
        try (Stream<Path> models = Files.list(cache)) {
            assertThat(models.map(p -> p.getFileName().toString())).singleElement().asString().startsWith("two-style-sft-");
        }

        CliRun second = CliRun.of("demo", "--minutes", "0.1", "--users", "0", "--port", "0", "--cache-dir", cache.toString());
        assertThat(second.exitCode()).as(second.err()).isZero();
        assertThat(second.out()).contains("(cached)").doesNotContain("SFT-training");
    }
}
