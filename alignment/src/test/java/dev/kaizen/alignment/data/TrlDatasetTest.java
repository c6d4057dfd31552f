package dev.kaizen.alignment.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.kaizen.alignment.tokenize.ChatTemplate;
import dev.kaizen.alignment.tokenize.Prompt;

class TrlDatasetTest {

    @TempDir
    Path dir;

    private Path file(String... lines) throws IOException {
        Path f = dir.resolve("data.jsonl");
        Files.write(f, List.of(lines));
        return f;
    }

    @Test
    void sftReadsPromptCompletionAndMessages() throws IOException {
        var rows = TrlDataset.read(file(
                "{\"prompt\": \"2+2=\", \"completion\": \" 4\"}",
                "",
                "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"},"
                        + " {\"role\": \"assistant\", \"content\": \"Hello.\"}]}",
                "{\"prompt\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"completion\": [{\"role\": \"assistant\", \"content\": \"Hey.\"}]}"),
                TrlDataset.Format.SFT, false, s -> { }).rows();
        assertThat(rows).containsExactly(
                new Row.Sft(Prompt.text("2+2="), " 4"),
                new Row.Sft(Prompt.chat(List.of(new ChatTemplate.Message("system", "Be brief."), new ChatTemplate.Message("user", "Hi"))), "Hello."),
                new Row.Sft(Prompt.user("Hi"), "Hey."));
    }

    @Test
    void preferencesAndLabelsInBothForms() throws IOException {
        var prefs = TrlDataset.read(file(
                "{\"prompt\": \"Q\", \"chosen\": \"good\", \"rejected\": \"bad\", \"margin\": 1.5}",
                "{\"prompt\": [{\"role\": \"user\", \"content\": \"Q\"}], \"chosen\": [{\"role\": \"assistant\", \"content\": \"good\"}],"
                        + " \"rejected\": [{\"role\": \"assistant\", \"content\": \"bad\"}]}"),
                TrlDataset.Format.PREFERENCE, false, s -> { }).rows();
        assertThat(prefs).containsExactly(new Row.Preference(Prompt.text("Q"), "good", "bad", 1.5),
                new Row.Preference(Prompt.user("Q"), "good", "bad", null));
        var unpaired = TrlDataset.read(file("{\"prompt\": \"Q\", \"completion\": \"A\", \"label\": false}"),
                TrlDataset.Format.UNPAIRED, false, s -> { }).rows();
        assertThat(unpaired).containsExactly(new Row.Unpaired(Prompt.text("Q"), "A", false));
    }

    @ParameterizedTest(name = "{1}")
    @CsvSource(delimiter = '|', value = {
            "not json at all|not valid JSON",
            "[1, 2]|a row must be a JSON object",
            "{\"completion\": \"A\", \"label\": true}|missing field 'prompt'",
            "{\"prompt\": \"Q\", \"label\": true}|missing field 'completion'",
            "{\"prompt\": \"Q\", \"completion\": \"A\", \"label\": \"yes\"}|'label' must be true or false",
            "{\"prompt\": \"Q\", \"completion\": \"A\"}|'label' must be true or false",
            "{\"prompt\": 7, \"completion\": \"A\", \"label\": true}|'prompt' must be a string or a non-empty list",
            "{\"prompt\": [{\"role\": \"user\"}], \"completion\": \"A\", \"label\": true}|needs a string role and content",
            "{\"prompt\": \"Q\", \"completion\": [{\"role\": \"user\", \"content\": \"A\"}], \"label\": true}|must be a string or one assistant message"})
    void aBadRowStopsWithFileAndLine(String bad, String problem) throws IOException {
        Path f = file("{\"prompt\": \"Q\", \"completion\": \"A\", \"label\": true}", bad);
        assertThatThrownBy(() -> TrlDataset.read(f, TrlDataset.Format.UNPAIRED, false, s -> { }))
                .isInstanceOf(DatasetException.class)
                .hasMessageStartingWith(f + ":2: ")
                .hasMessageContaining(problem);
    }

    @Test
    void badRowsCanBeSkippedAndCounted() throws IOException {
        List<String> reported = new ArrayList<>();
        var contents = TrlDataset.read(file("{\"prompt\": \"Q\", \"completion\": \"A\", \"label\": true}", "{oops",
                        "{\"prompt\": \"Q\", \"completion\": \"B\", \"label\": false}", "{\"label\": 1}"),
                TrlDataset.Format.UNPAIRED, true, reported::add);
        assertThat(contents.rows()).hasSize(2);
        assertThat(contents.skipped()).isEqualTo(2);
        assertThat(reported).hasSize(2).allMatch(r -> r.contains("data.jsonl:"));
    }

    @Test
    void messagesMustEndWithTheAssistant() throws IOException {
        Path f = file("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}");
        assertThatThrownBy(() -> TrlDataset.read(f, TrlDataset.Format.SFT, false, s -> { }))
                .hasMessageContaining(":1: messages must end with an assistant turn");
    }

    @Test
    void anEmptyOrMissingFileIsNamed() throws IOException {
        Path empty = file("", "  ");
        assertThatThrownBy(() -> TrlDataset.read(empty, TrlDataset.Format.SFT, false, s -> { })).hasMessageContaining("has no usable rows");
        assertThatThrownBy(() -> TrlDataset.read(dir.resolve("nope.jsonl"), TrlDataset.Format.SFT, false, s -> { }))
                .hasMessage(dir.resolve("nope.jsonl") + ": no such file");
        assertThatThrownBy(() -> TrlDataset.read(empty, TrlDataset.Format.SFT, false, s -> { })).hasMessage(empty + ": has no usable rows");
    }

    /** Editors on Windows save UTF-8 with a byte order mark: the first row still reads. */
    @Test
    void aByteOrderMarkBeforeTheFirstRowIsNotPartOfIt() throws IOException {
        Path f = file("\uFEFF{\"prompt\": \"Q\", \"completion\": \"A\"}", "{\"prompt\": \"Q2\", \"completion\": \"B\"}");
        assertThat(TrlDataset.read(f, TrlDataset.Format.SFT, false, s -> { }).rows()).hasSize(2);
    }
}
