package dev.kaizen.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.ObjectMapper;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.alignment.score.Scorer;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.alignment.tokenize.Prompt;
import dev.kaizen.alignment.tokenize.TokenizerFiles;
import dev.kaizen.alignment.weights.ModelWeights;

@Command(name = "model", description = "Make and inspect Hugging Face model directories.",
        mixinStandardHelpOptions = true, subcommands = {ModelCommand.Init.class, ModelCommand.LogProbs.class, ModelCommand.Merge.class})
final class ModelCommand {

    static Prompt prompt(String text, boolean chat) {
        return chat ? Prompt.user(text) : Prompt.text(text);
    }

    @Command(name = "merge", mixinStandardHelpOptions = true,
            description = "Fold a PEFT LoRA adapter into its base: write a full Hugging Face model directory.")
    static final class Merge implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--model", required = true, paramLabel = "DIR", description = "The base model directory.")
        Path model;

        @Option(names = "--adapter", required = true, paramLabel = "DIR", description = "The PEFT adapter directory.")
        Path adapter;

        @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to create; must be absent or empty.")
        Path out;

        @Override
        public Integer call() throws Exception {
            requireEmpty(out);
            try (LlamaForCausalLM base = LlamaForCausalLM.load(model, ai.djl.Device.cpu());
                 LoraAdapter lora = LoraAdapter.load(base, adapter)) {
                ModelWeights.write(out, lora.mergedTensors(), ModelWeights.DEFAULT_SHARD_BYTES);
                base.config().write(out.resolve("config.json"));
                TokenizerFiles.copy(model, out);
            }
            spec.commandLine().getOut().println("merged " + adapter + " into " + model + ": wrote " + out);
            return 0;
        }
    }

    static void requireEmpty(Path out) throws java.io.IOException {
        if (Files.exists(out) && (!Files.isDirectory(out) || Files.list(out).findAny().isPresent())) {
            throw new IllegalArgumentException(out + " exists and is not an empty directory");
        }
    }

    @Command(name = "init", mixinStandardHelpOptions = true,
            description = "Write a randomly initialised Llama model directory (config.json, model.safetensors, "
                    + "tokenizer.json, tokenizer_config.json) with a tokenizer Kaizen learns itself.")
    static final class Init implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--preset", required = true, paramLabel = "NAME",
                description = "tiny (about 1M parameters) or smollm2-135m (SmolLM2-135M's shape).")
        String preset;

        @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to create; must be absent or empty.")
        Path out;

        @Option(names = "--seed", defaultValue = "0", description = "Seed of the random weights (default: ${DEFAULT-VALUE}).")
        long seed;

        @Override
        public Integer call() throws Exception {
            ModelPresets p = ModelPresets.byId(preset);
            requireEmpty(out);
            p.write(out, seed);
            spec.commandLine().getOut().println("wrote " + p.id() + " model to " + out);
            return 0;
        }
    }

    @Command(name = "logprobs", mixinStandardHelpOptions = true,
            description = "Print {\"ids\", \"completion_start\", \"logprobs\"} where logprobs[i-1] = log p(ids[i] | ids[<i]). "
                    + "Text is tokenized exactly as the trainer tokenizes: prompt, completion, end-of-sequence token.")
    static final class LogProbs implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Mixin
        ModelOptions model;

        @ArgGroup(exclusive = true, multiplicity = "1")
        Input input;

        static final class Input {
            @Option(names = "--ids", split = ",", paramLabel = "ID", description = "Token ids, used exactly as given.")
            int[] ids;

            @ArgGroup(exclusive = false)
            Text text;
        }

        static final class Text {
            @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "Prompt text.")
            String prompt;

            @Option(names = "--completion", required = true, paramLabel = "TEXT", description = "Completion text.")
            String completion;

            @Option(names = "--chat", description = "Apply the chat template to the prompt as one user message.")
            boolean chat;
        }

        @Mixin
        DeviceOption device;

        @Override
        public Integer call() throws Exception {
            int[] ids;
            int completionStart;
            if (input.ids != null) {
                ids = input.ids;
                completionStart = 1;
            } else {
                try (ChatTokenizer tokenizer = ChatTokenizer.load(model.model)) {
                    ChatTokenizer.PromptCompletion sample =
                            tokenizer.encodePromptCompletion(prompt(input.text.prompt, input.text.chat), input.text.completion);
                    ids = sample.ids();
                    completionStart = Math.max(1, sample.completionStart());
                }
            }
            try (LlamaForCausalLM m = model.load(device)) {
                int vocab = m.config().vocabSize();
                for (int id : ids) {
                    if (id < 0 || id >= vocab) {
                        throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + vocab + ")");
                    }
                }
                Scorer.Scored scored = Scorer.score(m, List.of(new Scorer.Sequence(ids, completionStart))).get(0);
                Map<String, Object> json = new LinkedHashMap<>();
                json.put("ids", ids);
                json.put("completion_start", completionStart);
                json.put("logprobs", scored.logprobs());
                json.put("completion_logprob_sum", scored.completionSum());
                PrintWriter out = spec.commandLine().getOut();
                out.println(new ObjectMapper().writeValueAsString(json));
            }
            return 0;
        }
    }
}
