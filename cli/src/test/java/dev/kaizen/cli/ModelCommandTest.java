package dev.kaizen.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Path;
import java.util.List;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.generate.Generator;
import dev.kaizen.alignment.generate.SamplingParams;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.tokenize.ChatTokenizer;

class ModelCommandTest {

    @TempDir
    static Path root;

    static Path model;

    @BeforeAll
    static void initTiny() {
        model = root.resolve("tiny");
        CliRun run = CliRun.of("model", "init", "--preset", "tiny", "--out", model.toString(), "--seed", "5");
        assertThat(run.exitCode()).as(run.err()).isZero();
    }

    @Test
    void initWritesAHuggingFaceDirectoryThatLoads() {
        assertThat(model.resolve("config.json")).exists();
        assertThat(model.resolve("model.safetensors")).exists();
        assertThat(model.resolve("tokenizer.json")).exists();
        assertThat(model.resolve("tokenizer_config.json")).exists();
        try (LlamaForCausalLM m = LlamaForCausalLM.load(model, Device.cpu())) {
            assertThat(m.config().architecture()).isEqualTo("LlamaForCausalLM");
        }
    }

    @Test
    void initRefusesToOverwrite() {
        CliRun run = CliRun.of("model", "init", "--preset", "tiny", "--out", model.toString());
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.err()).contains("exists and is not an empty directory");
    }

    @Test
    void logprobsOnIdsScoresEveryTokenAfterTheFirst() throws Exception {
        CliRun run = CliRun.of("model", "logprobs", "--model", model.toString(), "--ids", "1,40,41,42,43");
        assertThat(run.exitCode()).as(run.err()).isZero();
        JsonNode json = new ObjectMapper().readTree(run.out());
        assertThat(json.get("completion_start").asInt()).isEqualTo(1);
        assertThat(json.get("ids")).hasSize(5);
        assertThat(json.get("logprobs")).hasSize(4);
        json.get("logprobs").forEach(v -> assertThat(v.asDouble()).isNegative());
    }

    @Test
    void logprobsOnTextTokenizesPromptThenCompletion() throws Exception {
        CliRun run = CliRun.of("model", "logprobs", "--model", model.toString(), "--prompt", "What is Kafka?",
                "--completion", " A distributed log.", "--chat");
        assertThat(run.exitCode()).as(run.err()).isZero();
        JsonNode json = new ObjectMapper().readTree(run.out());
        try (ChatTokenizer tokenizer = ChatTokenizer.load(model)) {
            int[] completion = tokenizer.encode(" A distributed log.");
            int start = json.get("completion_start").asInt();
            // The completion's tokens, then the end-of-sequence token, as the trainer appends it.
            assertThat(json.get("ids").size() - start).isEqualTo(completion.length + 1);
            assertThat(json.get("ids").get(json.get("ids").size() - 1).asInt()).isEqualTo(tokenizer.specialTokenId("eos_token"));
            assertThat(tokenizer.decode(new int[] {json.get("ids").get(start).asInt()}, false))
                    .isEqualTo(tokenizer.decode(new int[] {completion[0]}, false));
            assertThat(tokenizer.decode(new int[] {json.get("ids").get(0).asInt()}, false)).isEqualTo("<|im_start|>");
            double sum = 0;
            for (int i = start; i < json.get("ids").size(); i++) {
                sum += json.get("logprobs").get(i - 1).asDouble();
            }
            assertThat(json.get("completion_logprob_sum").asDouble()).isCloseTo(sum, within(1e-4));
        }
    }

    @Test
    void logprobsRefusesIdsOutsideTheVocabulary() {
        CliRun run = CliRun.of("model", "logprobs", "--model", model.toString(), "--ids", "1,999999");
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.err()).contains("token id 999999 is outside the vocabulary");
    }

    @Test
    void logprobsNamesTheMissingFile() {
        CliRun run = CliRun.of("model", "logprobs", "--model", root.resolve("nowhere").toString(), "--ids", "1,2");
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.err()).contains(root.resolve("nowhere").resolve("config.json").toString());
    }

    @Test
    void generateStreamsAtMostTheTokensAsked() throws Exception {
        CliRun run = CliRun.of("generate", "--model", model.toString(), "--prompt", "Hello", "--max-new-tokens", "5",
                "--temperature", "0.8", "--seed", "1");
        assertThat(run.exitCode()).as(run.err()).isZero();
        // The same draw in this JVM: its token count is the one the command generated (re-encoding
        // the printed text need not give it back), and the command printed exactly its text.
        try (ChatTokenizer tokenizer = ChatTokenizer.load(model); LlamaForCausalLM m = LlamaForCausalLM.load(model, Device.cpu())) {
            Generator.Generation same = new Generator(m, tokenizer).generate(tokenizer.encodePrompt(ModelCommand.prompt("Hello", false)),
                    new SamplingParams(5, 0.8, 0, 1, 1, List.of(), true), piece -> { });
            assertThat(same.ids().length).isBetween(1, 5);
            assertThat(run.out()).isEqualTo(same.text() + System.lineSeparator());
        }
    }
}
