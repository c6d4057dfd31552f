package dev.kaizen.alignment.tokenize;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Writes {@code tokenizer.json} and {@code tokenizer_config.json} for a byte-level BPE
 * vocabulary, in the layout Hugging Face's tokenizers and transformers read, with the ChatML
 * special tokens and chat template of SmolLM2-Instruct.
 */
public final class TokenizerFiles {

    public static final String END_OF_TEXT = "<|endoftext|>";
    public static final String IM_START = "<|im_start|>";
    public static final String IM_END = "<|im_end|>";
    public static final List<String> CHATML_SPECIALS = List.of(END_OF_TEXT, IM_START, IM_END);

    /** ChatML as SmolLM2-Instruct's tokenizer_config.json writes it, with a neutral default system prompt. */
    public static final String CHATML_TEMPLATE = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
            + "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}"
            + "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
            + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    private static final ObjectMapper JSON = new ObjectMapper();

    private TokenizerFiles() {}

    public static void write(Path dir, BpeTrainer.Vocabulary v, int modelMaxLength) throws IOException {
        Files.createDirectories(dir);
        ObjectNode tokenizer = JSON.createObjectNode();
        tokenizer.put("version", "1.0");
        tokenizer.putNull("truncation");
        tokenizer.putNull("padding");
        ArrayNode added = tokenizer.putArray("added_tokens");
        for (String special : v.specialTokens()) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("id", v.vocab().get(special));
            entry.putAll(addedToken(special));
            added.add(JSON.valueToTree(entry));
        }
        tokenizer.putNull("normalizer");
        tokenizer.set("pre_tokenizer", byteLevel());
        tokenizer.set("post_processor", byteLevel());
        tokenizer.set("decoder", byteLevel());
        ObjectNode model = tokenizer.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        v.vocab().forEach(vocab::put);
        ArrayNode merges = model.putArray("merges");
        v.merges().forEach(m -> merges.add(m[0] + " " + m[1]));
        Files.writeString(dir.resolve("tokenizer.json"), JSON.writeValueAsString(tokenizer));

        Map<String, Object> config = new LinkedHashMap<>();
        config.put("add_prefix_space", false);
        Map<String, Object> decoder = new LinkedHashMap<>();
        for (String special : v.specialTokens()) {
            decoder.put(String.valueOf(v.vocab().get(special)), addedToken(special));
        }
        config.put("added_tokens_decoder", decoder);
        config.put("additional_special_tokens", List.of(IM_START, IM_END));
        config.put("bos_token", IM_START);
        config.put("chat_template", CHATML_TEMPLATE);
        config.put("clean_up_tokenization_spaces", false);
        config.put("eos_token", IM_END);
        config.put("model_max_length", modelMaxLength);
        config.put("pad_token", IM_END);
        config.put("tokenizer_class", "GPT2Tokenizer");
        config.put("unk_token", END_OF_TEXT);
        config.put("vocab_size", v.vocab().size());
        Files.writeString(dir.resolve("tokenizer_config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config) + "\n");
    }

    /** Copies the tokenizer files a model directory carries, so a derived model directory is complete. */
    public static void copy(Path fromDir, Path toDir) throws IOException {
        for (String file : List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json")) {
            if (Files.exists(fromDir.resolve(file))) {
                Files.copy(fromDir.resolve(file), toDir.resolve(file), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    /** A special token as both files describe it: matched whole, never normalised or stripped. */
    private static Map<String, Object> addedToken(String content) {
        Map<String, Object> token = new LinkedHashMap<>();
        token.put("content", content);
        token.put("single_word", false);
        token.put("lstrip", false);
        token.put("rstrip", false);
        token.put("normalized", false);
        token.put("special", true);
        return token;
    }

    /** GPT-2's byte-level stage, without a prefix space, as SmolLM2's tokenizer has it. */
    private static ObjectNode byteLevel() {
        ObjectNode n = JSON.createObjectNode();
        n.put("type", "ByteLevel");
        n.put("add_prefix_space", false);
        n.put("trim_offsets", true);
        n.put("use_regex", true);
        return n;
    }
}
