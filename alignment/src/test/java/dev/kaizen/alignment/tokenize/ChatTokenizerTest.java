package dev.kaizen.alignment.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.model.ModelDirectoryException;
import dev.kaizen.alignment.model.ModelPresets;

class ChatTokenizerTest {

    @TempDir
    static Path dir;

    static ChatTokenizer tokenizer;

    @BeforeAll
    static void writeTinyPreset() throws IOException {
        ModelPresets.TINY.write(dir, 1);
        tokenizer = ChatTokenizer.load(dir);
    }

    @Test
    void textSurvivesEncodingAndDecoding() {
        for (String text : List.of("Hello! How can I help you today?", "  leading and trailing  ", "café 東京 👍\n\ttabs",
                "def add(a, b):\n    return a + b", "")) {
            int[] ids = tokenizer.encode(text);
            assertThat(tokenizer.decode(ids, false)).isEqualTo(text);
        }
    }

    @Test
    void learnedMergesMakeCommonWordsShort() {
        assertThat(tokenizer.encode(" the answer")).hasSizeLessThan(" the answer".length() / 2);
    }

    @Test
    void specialTokensInTheTextBecomeTheirIds() {
        int start = tokenizer.specialTokenId("bos_token");
        int end = tokenizer.specialTokenId("eos_token");
        int[] ids = tokenizer.encode("<|im_start|>user\nhi<|im_end|>");
        assertThat(ids[0]).isEqualTo(start);
        assertThat(ids[ids.length - 1]).isEqualTo(end);
        assertThat(tokenizer.decode(ids, true)).isEqualTo("user\nhi");
    }

    @Test
    void theChatTemplateRendersChatMlAsSmolLm2Does() {
        String prompt = tokenizer.applyChatTemplate(List.of(new ChatTemplate.Message("user", "What is Kafka?")), true);
        assertThat(prompt).isEqualTo("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                + "<|im_start|>user\nWhat is Kafka?<|im_end|>\n<|im_start|>assistant\n");
        String withSystem = tokenizer.applyChatTemplate(List.of(new ChatTemplate.Message("system", "Be brief."),
                new ChatTemplate.Message("user", "Hi"), new ChatTemplate.Message("assistant", "Hello.")), false);
        assertThat(withSystem).isEqualTo("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\nHello.<|im_end|>\n");
    }

    /** Llama 3's template shape: bos_token, |trim, whitespace control, and raise_exception on a bad role. */
    @Test
    void aLlama3StyleTemplateRendersAndRaises() {
        String source = "{{- bos_token }}\n"
                + "{%- for message in messages %}\n"
                + "    {%- if message['role'] not in ['system', 'user', 'assistant'] %}\n"
                + "        {{- raise_exception('Unknown role: ' + message['role']) }}\n"
                + "    {%- endif %}\n"
                + "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}\n"
                + "{%- endfor %}\n"
                + "{%- if add_generation_prompt %}\n"
                + "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
                + "{%- endif %}\n";
        ChatTemplate template = new ChatTemplate(source, Map.of("bos_token", "<|begin_of_text|>"));
        assertThat(template.render(List.of(new ChatTemplate.Message("user", "  Hi there \n")), true))
                .isEqualTo("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                        + "<|start_header_id|>assistant<|end_header_id|>\n\n");
        assertThatThrownBy(() -> template.render(List.of(new ChatTemplate.Message("robot", "beep")), false))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Unknown role: robot");
    }

    /** Qwen2.5's template reads message.role as an attribute and starts with a system turn. */
    @Test
    void aQwenStyleTemplateReadsAttributes() {
        String source = "{%- if messages[0].role != 'system' %}{{- '<|im_start|>system\\nYou are Qwen.<|im_end|>\\n' }}{%- endif %}"
                + "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endfor %}"
                + "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
        ChatTemplate template = new ChatTemplate(source, Map.of());
        assertThat(template.render(List.of(new ChatTemplate.Message("user", "2+2?")), true))
                .isEqualTo("<|im_start|>system\nYou are Qwen.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n");
    }

    @Test
    void aDirectoryWithoutTokenizerJsonIsRefusedByName(@TempDir Path empty) {
        assertThatThrownBy(() -> ChatTokenizer.load(empty)).isInstanceOf(ModelDirectoryException.class)
                .hasMessageContaining(empty.resolve("tokenizer.json").toString());
    }

    @Test
    void aCorruptTokenizerJsonIsRefusedByName(@TempDir Path bad) throws IOException {
        Files.writeString(bad.resolve("tokenizer.json"), "{\"model\": 42}");
        assertThatThrownBy(() -> ChatTokenizer.load(bad)).isInstanceOf(ModelDirectoryException.class)
                .hasMessageContaining(bad.resolve("tokenizer.json").toString());
    }
}
