package dev.kaizen.cli;

import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import dev.kaizen.alignment.generate.Generator;
import dev.kaizen.alignment.generate.SamplingParams;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.tokenize.ChatTokenizer;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Continue a prompt with a Hugging Face model directory, streaming the answer to standard output.")
final class GenerateCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "The prompt.")
    String prompt;

    @Option(names = "--chat", description = "Apply the chat template to the prompt as one user message.")
    boolean chat;

    @Option(names = "--max-new-tokens", defaultValue = "128", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}.")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0", paramLabel = "T", description = "0 is greedy (default).")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", paramLabel = "K", description = "Keep the K likeliest tokens; 0 is off (default).")
    int topK;

    @Option(names = "--top-p", defaultValue = "1", paramLabel = "P", description = "Nucleus mass; 1 is off (default).")
    double topP;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the sampler (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop before this text; repeatable.")
    List<String> stop = List.of();

    @Mixin
    DeviceOption device;

    @Override
    public Integer call() {
        SamplingParams params = new SamplingParams(maxNewTokens, temperature, topK, topP, seed, stop, true);
        PrintWriter out = spec.commandLine().getOut();
        try (ChatTokenizer tokenizer = ChatTokenizer.load(model.model);
             LlamaForCausalLM m = model.load(device)) {
            new Generator(m, tokenizer).generate(tokenizer.encodePrompt(ModelCommand.prompt(prompt, chat)), params, piece -> {
                out.print(piece);
                out.flush();
            });
            out.println();
        }
        return 0;
    }
}
