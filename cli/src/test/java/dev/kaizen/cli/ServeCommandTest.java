package dev.kaizen.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** {@code serve} takes either a model to serve or an upstream to stand in front of, and says so before it starts anything. */
class ServeCommandTest {

    @Test
    void neitherOrBothOfModelAndUpstreamIsRefusedByName() {
        CliRun neither = CliRun.of("serve", "--bootstrap-servers", "127.0.0.1:9", "--model-id", "m");
        assertThat(neither.exitCode()).isEqualTo(2);
        assertThat(neither.err()).contains("give either --model (serve a model here) or --upstream (stand in front of a server that does), not neither");
        CliRun both = CliRun.of("serve", "--bootstrap-servers", "127.0.0.1:9", "--model-id", "m", "--model", "/tmp/nowhere", "--upstream", "http://127.0.0.1:9");
        assertThat(both.exitCode()).isEqualTo(2);
        assertThat(both.err()).contains("not both");
        CliRun notHttp = CliRun.of("serve", "--bootstrap-servers", "127.0.0.1:9", "--model-id", "m", "--upstream", "ftp://example.com");
        assertThat(notHttp.exitCode()).isEqualTo(2);
        assertThat(notHttp.err()).contains("--upstream must be an http:// or https:// URL, not ftp://example.com");
    }
}
