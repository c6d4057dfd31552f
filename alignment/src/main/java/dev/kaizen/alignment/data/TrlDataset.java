package dev.kaizen.alignment.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.kaizen.alignment.tokenize.ChatTemplate;
import dev.kaizen.alignment.tokenize.Prompt;

/**
 * Reads the JSONL datasets TRL users already have. SFT: {@code prompt}/{@code completion} or
 * {@code messages} (the last assistant turn is the completion). RM and DPO: {@code prompt}/
 * {@code chosen}/{@code rejected} (and an optional {@code margin}). KTO: {@code prompt}/
 * {@code completion}/{@code label}. PPO: {@code prompt} alone. Each text may be plain or conversational (a list of
 * {role, content} messages), as TRL's standard and conversational formats are.
 */
public final class TrlDataset {

    public enum Format { SFT, PREFERENCE, UNPAIRED, PROMPT }

    /** The rows read and how many bad ones were skipped. */
    public record Contents(List<Row> rows, int skipped) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private TrlDataset() {}

    /**
     * Reads every row; a bad row throws {@link DatasetException} naming file and line, or with
     * {@code skipBadRows} is counted and reported to {@code onSkip} instead.
     */
    public static Contents read(Path file, Format format, boolean skipBadRows, java.util.function.Consumer<String> onSkip) {
        List<Row> rows = new ArrayList<>();
        int skipped = 0;
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            long number = 0;
            while ((line = in.readLine()) != null) {
                number++;
                // Editors on Windows start UTF-8 files with a byte order mark; it is not part of the JSON.
                if (number == 1 && line.startsWith("\uFEFF")) {
                    line = line.substring(1);
                }
                if (line.isBlank()) {
                    continue;
                }
                try {
                    rows.add(parse(line, format));
                } catch (IllegalArgumentException e) {
                    DatasetException bad = new DatasetException(file, number, e.getMessage());
                    if (!skipBadRows) {
                        throw bad;
                    }
                    skipped++;
                    onSkip.accept(bad.getMessage());
                }
            }
        } catch (NoSuchFileException e) {
            throw new DatasetException(file, "no such file");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        if (rows.isEmpty()) {
            throw new DatasetException(file, "has no usable rows");
        }
        return new Contents(rows, skipped);
    }

    static Row parse(String line, Format format) {
        JsonNode row;
        try {
            row = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not valid JSON: " + e.getOriginalMessage());
        }
        if (row == null || !row.isObject()) {
            throw new IllegalArgumentException("a row must be a JSON object");
        }
        return switch (format) {
            case SFT -> row.has("messages") ? fromMessages(row.get("messages"))
                    : new Row.Sft(prompt(row), completion(row, "completion"));
            case PREFERENCE -> new Row.Preference(prompt(row), completion(row, "chosen"), completion(row, "rejected"),
                    row.hasNonNull("margin") ? number(row, "margin") : null);
            case UNPAIRED -> new Row.Unpaired(prompt(row), completion(row, "completion"), label(row));
            case PROMPT -> new Row.PromptOnly(prompt(row));
        };
    }

    private static Row fromMessages(JsonNode node) {
        List<ChatTemplate.Message> messages = messages(node, "messages");
        ChatTemplate.Message last = messages.get(messages.size() - 1);
        if (!last.role().equals("assistant") || messages.size() < 2) {
            throw new IllegalArgumentException("messages must end with an assistant turn after at least one other turn");
        }
        return new Row.Sft(Prompt.chat(messages.subList(0, messages.size() - 1)), last.content());
    }

    private static Prompt prompt(JsonNode row) {
        JsonNode p = row.get("prompt");
        if (p == null || p.isNull()) {
            throw new IllegalArgumentException("missing field 'prompt'");
        }
        if (p.isTextual()) {
            return Prompt.text(p.asText());
        }
        return Prompt.chat(messages(p, "prompt"));
    }

    /** A completion as text: a string, or a conversational list holding one assistant message. */
    private static String completion(JsonNode row, String field) {
        JsonNode c = row.get(field);
        if (c == null || c.isNull()) {
            throw new IllegalArgumentException("missing field '" + field + "'");
        }
        if (c.isTextual()) {
            return c.asText();
        }
        List<ChatTemplate.Message> messages = messages(c, field);
        if (messages.size() != 1 || !messages.get(0).role().equals("assistant")) {
            throw new IllegalArgumentException("'" + field + "' must be a string or one assistant message");
        }
        return messages.get(0).content();
    }

    private static List<ChatTemplate.Message> messages(JsonNode node, String field) {
        if (!node.isArray() || node.isEmpty()) {
            throw new IllegalArgumentException("'" + field + "' must be a string or a non-empty list of {role, content} messages");
        }
        List<ChatTemplate.Message> out = new ArrayList<>();
        for (JsonNode m : node) {
            if (!m.path("role").isTextual() || !m.path("content").isTextual()) {
                throw new IllegalArgumentException("each message in '" + field + "' needs a string role and content");
            }
            out.add(new ChatTemplate.Message(m.get("role").asText(), m.get("content").asText()));
        }
        return out;
    }

    private static boolean label(JsonNode row) {
        JsonNode l = row.get("label");
        if (l == null || !l.isBoolean()) {
            throw new IllegalArgumentException("'label' must be true or false");
        }
        return l.asBoolean();
    }

    private static double number(JsonNode row, String field) {
        JsonNode n = row.get(field);
        if (!n.isNumber() || !Double.isFinite(n.asDouble())) {
            throw new IllegalArgumentException("'" + field + "' must be a finite number");
        }
        return n.asDouble();
    }
}
