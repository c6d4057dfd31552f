package dev.kaizen.alignment.tokenize;

import java.util.List;

/** What a completion answers: plain text, or chat messages to render with the chat template. */
public record Prompt(String text, List<ChatTemplate.Message> messages) {

    public Prompt {
        if ((text == null) == (messages == null)) {
            throw new IllegalArgumentException("a prompt is either text or messages");
        }
        messages = messages == null ? null : List.copyOf(messages);
    }

    public static Prompt text(String text) {
        return new Prompt(text, null);
    }

    public static Prompt chat(List<ChatTemplate.Message> messages) {
        return new Prompt(null, messages);
    }

    /** One user message, as {@code --chat} on the command line means. */
    public static Prompt user(String text) {
        return chat(List.of(new ChatTemplate.Message("user", text)));
    }
}
