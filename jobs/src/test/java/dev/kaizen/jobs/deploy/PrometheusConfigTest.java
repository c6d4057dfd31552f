package dev.kaizen.jobs.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * deploy/prometheus passes the checks of Prometheus's own promtool (Debian's, as .ci/run installs
 * it): the scrape configuration and the alert rules load, and every alert's cases in
 * alerts.test.yml hold, firing when they should and quiet when they should not.
 */
class PrometheusConfigTest {

    private static final Path PROMETHEUS = Path.of("../deploy/prometheus").toAbsolutePath().normalize();

    private static String promtool(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("promtool"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).directory(PROMETHEUS.toFile()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", command) + "\n" + output).isZero();
        return output;
    }

    @Test
    void theScrapeConfigurationAndItsRulesLoad() throws Exception {
        assertThat(promtool("check", "config", "prometheus.yml")).contains("SUCCESS");
    }

    @Test
    void everyAlertHasCasesAndTheyHold() throws Exception {
        String rules = promtool("check", "rules", "alerts.yml");
        assertThat(rules).contains("SUCCESS: 6 rules found");
        String tests = Files.readString(PROMETHEUS.resolve("alerts.test.yml"));
        for (String alert : List.of("KaizenNotTraining", "KaizenDeadLettersJump", "KaizenStepsRejected", "KaizenGateKeepsRefusing",
                "KaizenServingRefusesVersions", "KaizenServingLagsRelease")) {
            assertThat(Files.readString(PROMETHEUS.resolve("alerts.yml"))).contains("alert: " + alert);
            assertThat(tests).as("a firing case of " + alert).containsPattern("alertname: " + alert + "\\s+exp_alerts:\\s+- exp_labels");
        }
        assertThat(promtool("test", "rules", "alerts.test.yml")).contains("SUCCESS");
    }
}
