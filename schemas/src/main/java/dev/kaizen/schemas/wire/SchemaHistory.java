package dev.kaizen.schemas.wire;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

import org.apache.avro.Schema;
import org.apache.avro.message.SchemaStore;

/**
 * The released versions of one record's schema, shipped in this jar under
 * {@code dev/kaizen/schemas/history/<Record>.v<N>.avsc} (v1, v2 … without gaps). A reader
 * resolves bytes from any of them by fingerprint, so no schema registry is needed.
 */
public final class SchemaHistory {

    static final String ROOT = "dev/kaizen/schemas/history/";

    private final String record;
    private final List<Schema> versions;

    private SchemaHistory(String record, List<Schema> versions) {
        this.record = record;
        this.versions = List.copyOf(versions);
    }

    /** The released versions of {@code record} (its simple name, e.g. FeedbackEvent), oldest first. */
    public static SchemaHistory released(String record) {
        List<Schema> versions = new ArrayList<>();
        ClassLoader loader = SchemaHistory.class.getClassLoader();
        for (int v = 1; ; v++) {
            try (InputStream in = loader.getResourceAsStream(ROOT + record + ".v" + v + ".avsc")) {
                if (in == null) {
                    break;
                }
                versions.add(new Schema.Parser().parse(in));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read released schema " + record + " v" + v, e);
            }
        }
        if (versions.isEmpty()) {
            throw new IllegalStateException("no released schema for " + record + " under " + ROOT);
        }
        return new SchemaHistory(record, versions);
    }

    /** This history with {@code schema} added as the newest version (for readers built ahead of a release). */
    public SchemaHistory with(Schema schema) {
        List<Schema> more = new ArrayList<>(versions);
        more.add(schema);
        return new SchemaHistory(record, more);
    }

    public String record() {
        return record;
    }

    /** Oldest first. */
    public List<Schema> versions() {
        return versions;
    }

    /** A fingerprint-keyed store of every version, for Avro's message decoder. */
    public SchemaStore store() {
        SchemaStore.Cache cache = new SchemaStore.Cache();
        versions.forEach(cache::addSchema);
        return cache;
    }
}
