package dev.kaizen.schemas.wire;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaNormalization;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ModelCommand;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ResponseLogged;

/** The release discipline that lets readers resolve every writer that ever shipped. */
class SchemaHistoryTest {

    private static final Map<String, Schema> CURRENT = Map.of(
            "FeedbackEvent", FeedbackEvent.getClassSchema(),
            "ResponseLogged", ResponseLogged.getClassSchema(),
            "ModelUpdate", ModelUpdate.getClassSchema(),
            "DeadLetter", DeadLetter.getClassSchema(),
            "ModelCommand", ModelCommand.getClassSchema(),
            "ModelRelease", ModelRelease.getClassSchema());

    @Test
    void historyFilesAreNumberedWithoutGaps() throws IOException {
        Pattern name = Pattern.compile("([A-Za-z]+)\\.v([1-9][0-9]*)\\.avsc");
        Map<String, TreeSet<Integer>> versions = new TreeMap<>();
        try (Stream<Path> files = Files.list(Path.of("history"))) {
            for (Path file : files.toList()) {
                Matcher m = name.matcher(file.getFileName().toString());
                assertThat(m.matches()).as("history file name %s", file.getFileName()).isTrue();
                versions.computeIfAbsent(m.group(1), k -> new TreeSet<>()).add(Integer.parseInt(m.group(2)));
            }
        }
        assertThat(versions.keySet()).containsExactlyInAnyOrderElementsOf(CURRENT.keySet());
        versions.forEach((record, vs) -> assertThat(vs.last()).as("%s versions %s", record, vs).isEqualTo(vs.size()));
    }

    @ParameterizedTest
    @EnumSource(Topic.class)
    void everyTopicRecordHasAReleasedHistory(Topic topic) {
        assertThat(SchemaHistory.released(topic.record()).versions()).isNotEmpty();
        assertThat(CURRENT).containsKey(topic.record());
    }

    @Test
    void theCurrentSchemaOfEachRecordIsReleased() {
        CURRENT.forEach((record, current) -> {
            assertThat(SchemaHistory.released(record).record()).isEqualTo(record);
            List<Schema> released = SchemaHistory.released(record).versions();
            Schema latest = released.get(released.size() - 1);
            assertThat(SchemaNormalization.parsingFingerprint64(latest))
                    .as("%s.avsc changed since its last release: add history/%s.v%d.avsc with%n%s",
                            record, record, released.size() + 1, current.toString(true))
                    .isEqualTo(SchemaNormalization.parsingFingerprint64(current));
        });
    }

    @Test
    void theCurrentSchemaReadsEveryReleasedVersion() {
        CURRENT.forEach((record, current) -> {
            for (Schema old : SchemaHistory.released(record).versions()) {
                var result = SchemaCompatibility.checkReaderWriterCompatibility(current, old);
                assertThat(result.getType())
                        .as("%s cannot read a released version: %s", record, result.getDescription())
                        .isEqualTo(SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE);
            }
        });
    }

    @Test
    void everyFieldIsDocumented() {
        CURRENT.values().forEach(this::assertDocumented);
    }

    private void assertDocumented(Schema schema) {
        assertThat(schema.getDoc()).as("doc of %s", schema.getFullName()).isNotBlank();
        for (Schema.Field field : schema.getFields()) {
            assertThat(field.doc()).as("doc of %s.%s", schema.getName(), field.name()).isNotBlank();
            nested(field.schema()).forEach(s -> {
                if (s.getType() == Schema.Type.RECORD) {
                    assertDocumented(s);
                } else {
                    assertThat(s.getDoc()).as("doc of %s", s.getFullName()).isNotBlank();
                }
            });
        }
    }

    /** The named types (records, enums) a field's schema contains. */
    private static Stream<Schema> nested(Schema s) {
        return switch (s.getType()) {
            case RECORD, ENUM -> Stream.of(s);
            case UNION -> s.getTypes().stream().flatMap(SchemaHistoryTest::nested);
            case ARRAY -> nested(s.getElementType());
            case MAP -> nested(s.getValueType());
            default -> Stream.empty();
        };
    }
}
