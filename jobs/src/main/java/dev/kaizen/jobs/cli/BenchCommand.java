package dev.kaizen.jobs.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import dev.kaizen.alignment.generate.Generator;
import dev.kaizen.alignment.generate.SamplingParams;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.alignment.model.NoGrad;
import dev.kaizen.alignment.tokenize.ChatTokenizer;

@Command(name = "bench", description = "Measure Kaizen's speed and memory and print the figures.",
        mixinStandardHelpOptions = true, subcommands = BenchCommand.Model.class)
final class BenchCommand {

    @Command(name = "model", mixinStandardHelpOptions = true,
            description = "Forward tokens/s (batch 8 x 256 tokens), generation tokens/s (KV cache, greedy) and peak "
                    + "resident memory, for randomly initialised presets.")
    static final class Model implements Callable<Integer> {
        private static final int BATCH = 8;
        private static final int LENGTH = 256;
        private static final int PROMPT = 32;
        private static final int NEW_TOKENS = 64;

        @Spec
        CommandSpec spec;

        @Option(names = "--presets", split = ",", defaultValue = "tiny,smollm2-135m", paramLabel = "NAME",
                description = "Presets to measure (default: ${DEFAULT-VALUE}).")
        List<String> presets;

        @Option(names = "--iterations", defaultValue = "3", paramLabel = "N",
                description = "Timed forwards per preset, after one warm-up (default: ${DEFAULT-VALUE}).")
        int iterations;

        @Mixin
        DeviceOption device;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            out.printf("%-14s %10s %22s %16s %14s%n", "PRESET", "PARAMS", "FORWARD TOK/S (8x256)", "GENERATE TOK/S", "PEAK RSS MIB");
            for (String name : presets) {
                ModelPresets preset = ModelPresets.byId(name);
                Path dir = Files.createTempDirectory("kaizen-bench-");
                try {
                    preset.write(dir, 1);
                    resetPeakResident();
                    try (LlamaForCausalLM model = LlamaForCausalLM.load(dir, device.device());
                         ChatTokenizer tokenizer = ChatTokenizer.load(dir)) {
                        long params = model.parameters().values().stream().mapToLong(a -> a.getShape().size()).sum();
                        double forward = forwardTokensPerSecond(model);
                        double generate = generationTokensPerSecond(model, tokenizer);
                        out.printf("%-14s %9.1fM %22.0f %16.1f %14d%n", preset.id(), params / 1e6, forward, generate,
                                peakResidentMiB());
                        out.flush();
                    }
                } finally {
                    deleteTree(dir);
                }
            }
            return 0;
        }

        private double forwardTokensPerSecond(LlamaForCausalLM model) {
            Random random = new Random(7);
            long[][] ids = new long[BATCH][LENGTH];
            for (long[] row : ids) {
                for (int i = 0; i < LENGTH; i++) {
                    row[i] = random.nextInt(model.config().vocabSize());
                }
            }
            long elapsed = 0;
            for (int i = 0; i <= iterations; i++) {
                long start = System.nanoTime();
                try (NoGrad noGrad = NoGrad.enter(); NDScope scope = new NDScope(); NDManager m = model.manager().newSubManager()) {
                    model.forward(m.create(ids), null, null).get(":, -1, 0").toFloatArray();
                }
                if (i > 0) {
                    elapsed += System.nanoTime() - start;
                }
            }
            return (double) BATCH * LENGTH * iterations / (elapsed / 1e9);
        }

        private static double generationTokensPerSecond(LlamaForCausalLM model, ChatTokenizer tokenizer) {
            int[] prompt = new Random(11).ints(PROMPT, 0, model.config().vocabSize()).toArray();
            Generator generator = new Generator(model, tokenizer);
            SamplingParams params = new SamplingParams(NEW_TOKENS, 0, 0, 1, 0, List.of(), false);
            generator.generate(prompt, params, null);
            long start = System.nanoTime();
            int produced = generator.generate(prompt, params, null).ids().length;
            return produced / ((System.nanoTime() - start) / 1e9);
        }

        /** Makes VmHWM start again from the current size, so writing the preset does not count. */
        private static void resetPeakResident() throws IOException {
            System.gc();
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        }

        /** VmHWM: the most resident memory this process has held, Java heap and native tensors together. */
        private static long peakResidentMiB() throws IOException {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
                }
            }
            return -1;
        }

        private static void deleteTree(Path dir) throws IOException {
            try (Stream<Path> paths = Files.walk(dir)) {
                for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
    }
}
