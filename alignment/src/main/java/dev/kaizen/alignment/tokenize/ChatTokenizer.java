package dev.kaizen.alignment.tokenize;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.kaizen.alignment.model.ModelDirectoryException;

/**
 * A model directory's tokenizer: {@code tokenizer.json} through DJL's binding of Hugging Face's
 * tokenizers, and the special tokens and chat template of {@code tokenizer_config.json}. Text is
 * encoded without adding special tokens, as TRL's trainers tokenize prompts and completions;
 * special tokens written in the text (as chat templates write them) become their ids.
 */
public final class ChatTokenizer implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HuggingFaceTokenizer tokenizer;
    private final Map<String, Integer> specialTokenIds = new HashMap<>();
    private final ChatTemplate template;

    private ChatTokenizer(HuggingFaceTokenizer tokenizer, Map<String, String> specialTokens, ChatTemplate template) {
        this.tokenizer = tokenizer;
        this.template = template;
        // Resolved once: every completion the trainer encodes asks for the end-of-sequence id.
        specialTokens.forEach((name, token) -> {
            int[] ids = encode(token);
            if (ids.length == 1) {
                specialTokenIds.put(name, ids[0]);
            }
        });
    }

    public static ChatTokenizer load(Path dir) {
        Path file = dir.resolve("tokenizer.json");
        if (!Files.exists(file)) {
            throw new ModelDirectoryException(file, "missing; Kaizen reads Hugging Face fast tokenizers (tokenizer.json)");
        }
        HuggingFaceTokenizer tokenizer;
        try {
            tokenizer = HuggingFaceTokenizer.newInstance(file, Map.of("addSpecialTokens", "false",
                    "truncation", "false", "padding", "false"));
        } catch (IOException | RuntimeException e) {
            throw new ModelDirectoryException(file, "is not a tokenizer Hugging Face's tokenizers can load: " + e.getMessage(), e);
        }
        Map<String, String> specials = new HashMap<>();
        String chatTemplate = null;
        Path configFile = dir.resolve("tokenizer_config.json");
        try {
            JsonNode config = JSON.readTree(Files.readString(configFile));
            for (String name : List.of("bos_token", "eos_token", "pad_token", "unk_token")) {
                JsonNode token = config.get(name);
                if (token != null && !token.isNull()) {
                    specials.put(name, token.isObject() ? token.path("content").asText() : token.asText());
                }
            }
            JsonNode t = config.get("chat_template");
            chatTemplate = t == null || t.isNull() ? null : t.asText();
        } catch (NoSuchFileException e) {
            // Optional: without it there are no named special tokens and no chat template.
        } catch (IOException e) {
            tokenizer.close();
            throw new ModelDirectoryException(configFile, "is not valid JSON: " + e.getMessage(), e);
        }
        return new ChatTokenizer(tokenizer, specials, chatTemplate == null ? null : new ChatTemplate(chatTemplate, specials));
    }

    public int[] encode(String text) {
        long[] ids = tokenizer.encode(text, false, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] longs = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            longs[i] = ids[i];
        }
        return tokenizer.decode(longs, skipSpecialTokens);
    }

    /** Prompt then completion tokens, as the trainer tokenizes a sample, and where the completion starts. */
    public record PromptCompletion(int[] ids, int completionStart) {}

    /** The prompt's tokens: its text, or its messages through the chat template with the generation prompt. */
    public int[] encodePrompt(Prompt prompt) {
        return encode(prompt.messages() == null ? prompt.text() : applyChatTemplate(prompt.messages(), true));
    }

    /**
     * How every trainer tokenizes a sample, as TRL does for decoder-only models: the prompt's tokens,
     * then the completion's own tokens and the end-of-sequence token, so the model learns to stop.
     */
    public PromptCompletion encodePromptCompletion(Prompt prompt, String completion) {
        int[] promptIds = encodePrompt(prompt);
        int[] completionIds = encodeCompletion(completion);
        int[] ids = Arrays.copyOf(promptIds, promptIds.length + completionIds.length);
        System.arraycopy(completionIds, 0, ids, promptIds.length, completionIds.length);
        return new PromptCompletion(ids, promptIds.length);
    }

    /** A completion's own tokens followed by the end-of-sequence token, when the tokenizer names one. */
    public int[] encodeCompletion(String completion) {
        int[] ids = encode(completion);
        Integer eos = specialTokenId("eos_token");
        if (eos == null) {
            return ids;
        }
        int[] withEos = Arrays.copyOf(ids, ids.length + 1);
        withEos[ids.length] = eos;
        return withEos;
    }

    public String applyChatTemplate(List<ChatTemplate.Message> messages, boolean addGenerationPrompt) {
        if (template == null) {
            throw new IllegalStateException("this tokenizer has no chat_template in tokenizer_config.json");
        }
        return template.render(messages, addGenerationPrompt);
    }

    /** The id of a named special token (eos_token, bos_token, pad_token), if the config names one. */
    public Integer specialTokenId(String name) {
        return specialTokenIds.get(name);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
