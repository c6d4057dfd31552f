package dev.kaizen.cli;

import java.io.PrintWriter;
import java.util.HexFormat;
import java.util.List;

import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import dev.kaizen.schemas.wire.SchemaHistory;
import dev.kaizen.schemas.wire.Topic;

@Command(name = "schemas", mixinStandardHelpOptions = true,
        description = "List each topic's record and the fingerprints of its released schema versions, "
                + "as they appear in the bytes after the 0xC3 0x01 marker (little-endian).")
final class SchemasCommand implements Runnable {

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        out.printf("%-20s %-15s %7s  %s%n", "TOPIC", "RECORD", "VERSION", "FINGERPRINT");
        for (Topic topic : Topic.values()) {
            List<Schema> versions = SchemaHistory.released(topic.record()).versions();
            for (int v = 0; v < versions.size(); v++) {
                long fingerprint = SchemaNormalization.parsingFingerprint64(versions.get(v));
                out.printf("%-20s %-15s %7s  0x%s%n", topic.topicName(), topic.record(), "v" + (v + 1),
                        HexFormat.of().toHexDigits(fingerprint));
            }
        }
    }
}
