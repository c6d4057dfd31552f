package dev.kaizen.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HexFormat;

import org.apache.avro.SchemaNormalization;
import org.junit.jupiter.api.Test;

import dev.kaizen.schemas.FeedbackEvent;

class KaizenCommandTest {

    @Test
    void helpListsOnlyTheCommandsThatWork() {
        CliRun run = CliRun.of("--help");
        assertThat(run.exitCode()).isZero();
        assertThat(KaizenCommand.commandLine().getSubcommands().keySet())
                .containsExactlyInAnyOrder("model", "generate", "train", "job", "serve", "rollout", "rollback", "demo", "bench", "topics", "schemas", "help");
        assertThat(run.out()).contains("Usage: kaizen", "topics", "schemas");
    }

    /** Help text is a format string to picocli: an unescaped % used to print a warning before the usage. */
    @Test
    void usageAndHelpPrintNoWarnings() throws Exception {
        CliProcess bare = CliProcess.of();
        assertThat(bare.err()).contains("Usage: kaizen").doesNotContain("WARN").doesNotContain("Exception");
        CliProcess demo = CliProcess.of("demo", "--help");
        assertThat(demo.exitCode()).isZero();
        assertThat(demo.out().replaceAll("\\s+", " ")).contains("(10% of their votes");  // however the help wraps
        assertThat(demo.err()).isEmpty();
    }

    @Test
    void anUnknownCommandIsAUsageError() {
        CliRun run = CliRun.of("fly");
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err()).contains("Unmatched argument", "fly");
    }

    @Test
    void schemasPrintsTheFingerprintReadersLookUp() {
        CliRun run = CliRun.of("schemas");
        assertThat(run.exitCode()).isZero();
        String fingerprint = HexFormat.of().toHexDigits(SchemaNormalization.parsingFingerprint64(FeedbackEvent.getClassSchema()));
        assertThat(run.out()).containsPattern("chat-feedback +FeedbackEvent +v1 +0x" + fingerprint)
                .contains("model-updates", "ModelUpdate", "chat-feedback-dlq", "DeadLetter");
    }
}
