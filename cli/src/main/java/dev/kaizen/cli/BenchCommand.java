package dev.kaizen.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import org.apache.commons.io.FileUtils;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.generate.Generator;
import dev.kaizen.alignment.generate.SamplingParams;
import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.alignment.model.LlamaConfig;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LlamaForSequenceClassification;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.alignment.model.NoGrad;
import dev.kaizen.alignment.score.Scorer;
import dev.kaizen.alignment.score.SharedPromptBatch;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.alignment.tokenize.Prompt;
import dev.kaizen.alignment.train.PpoTrainer;
import dev.kaizen.alignment.train.Sequences;
import dev.kaizen.alignment.train.Trainer;
import dev.kaizen.alignment.train.TrainingOptions;

@Command(name = "bench", description = "Measure Kaizen's speed and memory and print the figures.",
        mixinStandardHelpOptions = true, subcommands = {BenchCommand.Model.class, BenchCommand.Train.class, BenchCommand.Ppo.class, PipelineBench.class, LoopBench.class, ServeBench.class, SlowClientsBench.class})
final class BenchCommand {

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "KTO step throughput (policy and reference log-probs of a batch and its mismatched pairs, "
                    + "backward, optimizer step) in tokens/s, as model FLOPs against the device's fp32 matmul rate at the "
                    + "model's shapes measured in the same run (and the products a step executes, where an answer and its "
                    + "pair share their prompt's row), and peak resident memory, for the presets with LoRA and "
                    + "with full fine-tuning: on a batch of the two-style task's rows, and for the --long-presets on "
                    + "16 answers of 512 tokens.")
    static final class Train implements Callable<Integer> {
        /** The long case: a batch as the job accumulates it at its default max-length, every answer running past it. */
        static final int LONG_BATCH = 16;
        static final int LONG_LENGTH = 512;
        /** What a timing JVM prints between steps, waiting for the bench to measure the matmul rate. */
        private static final String BETWEEN_STEPS = "between";
        private static final int ANSWERS_PER_LONG_ROW = 80;

        @Spec
        CommandSpec spec;

        @Mixin
        Presets presets;

        @Option(names = "--steps", defaultValue = "3", paramLabel = "N",
                description = "Timed KTO steps per case, after one warm-up step (default: ${DEFAULT-VALUE}).")
        int steps;

        @Option(names = "--batch-size", defaultValue = "8", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}.")
        int batchSize;

        @Option(names = "--long-presets", split = ",", defaultValue = "tiny", paramLabel = "NAME",
                description = "Presets also timed on " + LONG_BATCH + " answers of " + LONG_LENGTH + " tokens (default: "
                        + "${DEFAULT-VALUE}; SmolLM2-135M's shape takes minutes a step on a CPU).")
        List<String> longPresets;

        @Mixin
        DeviceOption device;

        @Option(names = "--alone", hidden = true, split = ",", paramLabel = "DIR,CASE,MODE",
                description = "Times one case and mode of a preset written to DIR in this JVM and prints its seconds a step and "
                        + "peak resident MiB; between steps it prints 'between' and waits for a line on its input, while the bench "
                        + "measures the matmul rate: the bench runs each case so, in a JVM of its own.")
        List<String> alone;

        /** One batch shape to time: its rows (steps + 1 batches of them), batch size and the trainer's max-length. */
        private record Case(String name, List<Row> rows, int batchSize, int maxLength) {}

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            Map<String, Case> cases = Map.of(
                    "rows", new Case("batch of " + batchSize + " two-style rows",
                            TwoStyleChat.ktoRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), batchSize * (steps + 1), 0.5, 1)),
                            batchSize, TrainingOptions.builder(TrainingOptions.Method.KTO).build().maxLength()),
                    "long", new Case(LONG_BATCH + " answers of " + LONG_LENGTH + " tokens", longAnswerRows(LONG_BATCH * (steps + 1)),
                            LONG_BATCH, LONG_LENGTH));
            if (alone != null) {
                resetPeakResident();
                double seconds = ktoSeconds(Path.of(alone.get(0)), cases.get(alone.get(1)), alone.get(2).equals("lora"), out);
                out.println(seconds + " " + peakResidentMiB());
                return 0;
            }
            presets.forEachWrittenForTheTask((preset, dir) -> {
                report(out, preset.id(), dir, "rows", cases.get("rows"));
                if (longPresets.contains(preset.id())) {
                    report(out, preset.id(), dir, "long", cases.get("long"));
                }
            });
            return 0;
        }

        private void report(PrintWriter out, String preset, Path dir, String key, Case c) throws IOException, InterruptedException {
            LlamaConfig config = LlamaConfig.read(dir.resolve("config.json"));
            long[] shape = batchShape(dir, c);
            out.printf("%s, %s (%d tokens a step, %d of them predicting an answer token); fp32 matmul peak: DJL on %s, the model's "
                    + "projections and head at the batch's tokens, measured before and after each timed step%n", preset, c.name(),
                    shape[0], shape[1], device.device());
            if (shape[2] == 1) {
                out.println("each answer and its mismatched pair share their prompt, which a step computes once a model: "
                        + "% OF PEAK counts every forward over whole sequences, EXECUTED the products the step runs");
            }
            out.printf("%-14s %-5s %10s %14s %12s %13s %12s %10s %10s %14s%n", "PRESET", "MODE", "TOKENS/STEP", "KTO TOKENS/S", "S/STEP",
                    "MODEL GFLOP/S", "PEAK GFLOP/S", "% OF PEAK", "EXECUTED", "PEAK RSS MIB");
            for (String mode : new String[] {"lora", "full"}) {
                List<Double> peaks = new ArrayList<>();
                String[] measured = alone(dir, key, mode, () -> peaks.add(matmulPeakGflops(config, (int) shape[0], device.device())));
                double seconds = Double.parseDouble(measured[0]);
                double peak = peaks.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
                boolean lora = mode.equals("lora");
                double gflops = ktoFlops(config, shape[0], shape[1], lora) / seconds / 1e9;
                double executed = (shape[2] == 0 ? ktoFlops(config, shape[0], shape[1], lora)
                        : sharedPromptKtoFlops(config, shape[0], shape[1], lora)) / seconds / 1e9;
                out.printf("%-14s %-5s %10d %14.1f %12.2f %13.1f %12.1f %9.0f%% %9.0f%% %14s%n", preset, mode,
                        shape[0], shape[0] / seconds, seconds, gflops, peak, 100 * gflops / peak, 100 * executed / peak, measured[1]);
                out.flush();
            }
        }

        /**
         * Seconds a step and peak resident MiB of one case and mode, measured by this command with
         * {@code --alone} in a JVM of its own (this one's flags and class path): what the allocator kept
         * from an earlier case would otherwise count in a later one's peak. Before and after each timed
         * step the child waits while {@code between} runs here: the matmul rate is measured over the same
         * minutes as the steps on a machine whose speed drifts, and its matrices never count in the child's memory.
         */
        private String[] alone(Path dir, String key, String mode, Runnable between) throws IOException, InterruptedException {
            List<String> command = new ArrayList<>();
            command.add(ProcessHandle.current().info().command().orElse("java"));
            command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
            command.addAll(List.of("-cp", System.getProperty("java.class.path"), KaizenCommand.class.getName(), "bench", "train",
                    "--steps", Integer.toString(steps), "--batch-size", Integer.toString(batchSize), "--device", device.device,
                    "--alone", dir + "," + key + "," + mode));
            Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String last = "";
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
                 Writer go = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8)) {
                for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                    if (line.equals(BETWEEN_STEPS)) {
                        between.run();
                        go.write("go\n");
                        go.flush();
                    } else if (!line.isBlank()) {
                        last = line;
                    }
                }
            }
            if (process.waitFor() != 0) {
                throw new IllegalStateException("timing " + key + " with " + mode + " failed (exit " + process.exitValue() + "): " + last);
            }
            return last.split(" ");
        }

        /**
         * A KTO step's model FLOPs, P being the weights a token multiplies through: the policy's forward
         * (2P) and backward (2P for the activations' gradients; full fine-tuning adds 2P for the weights'),
         * its forward on the mismatched pairs (2P, as many tokens: the same prompts and answers, paired
         * otherwise) and the reference's forwards on both (4P): 10P with LoRA, 12P without. The decoder's
         * weights count at every token; the head's only where a token of the answer is predicted, the one
         * place a KTO step reads logits, and so the only place Kaizen computes them.
         */
        static double ktoFlops(LlamaConfig c, long tokens, long predicting, boolean lora) {
            long head = (long) c.vocabSize() * c.hiddenSize();
            return (lora ? 10.0 : 12.0) * ((double) (c.matmulParameters() - head) * tokens + (double) head * predicting);
        }

        /**
         * What a KTO step computes of {@link #ktoFlops} when each answer and its mismatched pair share
         * their prompt, laid out once a row: the reference's forward, and with LoRA the policy's forward
         * and backward, run over the prompt, the answer and the pair's answer (another row's, so as many
         * tokens in all as the answers), the head at both answers; fully fine-tuned, the policy's passes
         * are as {@link #ktoFlops} counts them.
         */
        static double sharedPromptKtoFlops(LlamaConfig c, long tokens, long predicting, boolean lora) {
            long head = (long) c.vocabSize() * c.hiddenSize();
            double decoder = c.matmulParameters() - head;
            double shared = decoder * (tokens + predicting) + head * 2.0 * predicting;
            return (lora ? 6 : 2) * shared + (lora ? 0 : 8 * (decoder * tokens + (double) head * predicting));
        }

        /** KTO rows whose answers run past {@link #LONG_LENGTH} tokens, so the trainer cuts every sequence to exactly that. */
        static List<Row> longAnswerRows(int n) {
            List<Row> answers = TwoStyleChat.ktoRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), n * ANSWERS_PER_LONG_ROW, 0.5, 2));
            List<Row> rows = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                List<Row> mine = answers.subList(i * ANSWERS_PER_LONG_ROW, (i + 1) * ANSWERS_PER_LONG_ROW);
                Row.Unpaired first = (Row.Unpaired) mine.get(0);
                String completion = mine.stream().map(r -> ((Row.Unpaired) r).completion()).collect(Collectors.joining(" "));
                rows.add(new Row.Unpaired(first.prompt(), completion, first.desirable()));
            }
            return rows;
        }

        /**
         * The device's fp32 matmul rate at the shapes of one forward pass: each projection and the head
         * timed on {@code tokens} rows, weighted by how often a forward runs it.
         */
        static double matmulPeakGflops(LlamaConfig c, int tokens, Device device) {
            long q = (long) c.numHeads() * c.headDim();
            long kv = (long) c.numKvHeads() * c.headDim();
            long h = c.hiddenSize();
            long i = c.intermediateSize();
            // {inner, outer, times per forward}
            long[][] shapes = {{h, q, c.numLayers()}, {h, kv, 2L * c.numLayers()}, {q, h, c.numLayers()}, {h, i, 2L * c.numLayers()},
                    {i, h, c.numLayers()}, {h, c.vocabSize(), 1}};
            double flops = 0;
            double seconds = 0;
            try (NoGrad noGrad = NoGrad.enter(); NDManager m = NDManager.newBaseManager(device)) {
                for (long[] s : shapes) {
                    NDArray x = m.randomNormal(new Shape(tokens, s[0]));
                    NDArray w = m.randomNormal(new Shape(s[0], s[1]));
                    double each = secondsPerMatmul(x, w);
                    flops += 2.0 * tokens * s[0] * s[1] * s[2];
                    seconds += each * s[2];
                }
            }
            return flops / seconds / 1e9;
        }

        /** The best of five timings, each of enough products to take 50 ms or more, after a warm-up. */
        private static double secondsPerMatmul(NDArray x, NDArray w) {
            int n = 1;
            while (products(x, w, n) < 0.05) {
                n *= 2;
            }
            double best = Double.MAX_VALUE;
            for (int round = 0; round < 5; round++) {
                best = Math.min(best, products(x, w, n) / n);
            }
            return best;
        }

        /** Seconds for {@code n} products; reading a value of the last waits for them all, on an accelerator too. */
        private static double products(NDArray x, NDArray w, int n) {
            try (NDManager scratch = x.getManager().newSubManager()) {
                long start = System.nanoTime();
                NDArray r = null;
                for (int i = 0; i < n; i++) {
                    r = x.matMul(w);
                    r.attach(scratch);
                }
                r.getFloat(0, 0);
                return (System.nanoTime() - start) / 1e9;
            }
        }

        /**
         * One step's tokens and, of them, the positions predicting an answer token, averaged over the
         * timed steps: each row as the trainer encodes and cuts it.
         */
        private long[] batchShape(Path dir, Case c) throws IOException {
            long tokens = 0;
            long predicting = 0;
            long shared = 0;
            try (ChatTokenizer tokenizer = ChatTokenizer.load(dir)) {
                Sequences sequences = new Sequences(tokenizer, c.maxLength());
                for (int from = c.batchSize(); from < c.rows().size(); from += c.batchSize()) {
                    List<Row> batch = c.rows().subList(from, from + c.batchSize());
                    List<Scorer.Sequence> own = new ArrayList<>();
                    List<Scorer.Sequence> pairs = new ArrayList<>();
                    for (int i = 0; i < batch.size(); i++) {
                        Row.Unpaired r = (Row.Unpaired) batch.get(i);
                        Row.Unpaired partner = (Row.Unpaired) batch.get(KtoLoss.mismatchedPartner(i, batch.size()));
                        own.add(sequences.of(sequences.prompt(r), sequences.completion(r.completion())));
                        pairs.add(sequences.of(sequences.prompt(r), sequences.completion(partner.completion())));
                        tokens += own.get(i).ids().length;
                        predicting += own.get(i).ids().length - own.get(i).completionStart();
                    }
                    shared += SharedPromptBatch.of(own, pairs) == null ? 0 : 1;
                }
            }
            return new long[] {Math.round((double) tokens / steps), Math.round((double) predicting / steps), shared == steps ? 1 : 0};
        }

        /**
         * Seconds per step over the timed steps; after the warm-up step and each timed one it says so on
         * {@code out} and waits for a line on its input (the parent's matmul timing, outside the timed
         * window). Without LoRA the trainer computes the reference's sums for every batch before the
         * first step: the timed batches' share of that counts too.
         */
        private double ktoSeconds(Path dir, Case c, boolean lora, PrintWriter out) throws IOException {
            BufferedReader parent = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            TrainingOptions options = TrainingOptions.builder(TrainingOptions.Method.KTO).batchSize(c.batchSize())
                    .maxSteps(steps + 1).learningRate(1e-5).maxLength(c.maxLength())
                    .lora(lora ? new LoraAdapter.Config(16, 32, 0, LoraAdapter.ALL_TARGETS) : null).build();
            long[] starts = new long[steps + 2];
            long[] ends = new long[steps + 2];
            long[] referenceMarks = new long[steps + 2];
            try (ChatTokenizer tokenizer = ChatTokenizer.load(dir);
                 LlamaForCausalLM policy = LlamaForCausalLM.load(dir, device.device());
                 LlamaForCausalLM reference = lora ? null : LlamaForCausalLM.load(dir, device.device());
                 Trainer trainer = Trainer.kto(policy, tokenizer, reference, options, c.rows())) {
                trainer.train(c.rows(), p -> referenceMarks[p.done()] = System.nanoTime(), step -> {
                    ends[step.step()] = System.nanoTime();
                    out.println(BETWEEN_STEPS);
                    out.flush();
                    try {
                        parent.readLine();
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                    if (step.step() <= steps) {
                        starts[step.step() + 1] = System.nanoTime();
                    }
                });
            }
            long stepNanos = 0;
            for (int s = 2; s <= steps + 1; s++) {
                stepNanos += ends[s] - starts[s];
            }
            return (stepNanos + referenceMarks[steps + 1] - referenceMarks[1]) / 1e9 / steps;
        }
    }

    @Command(name = "ppo", mixinStandardHelpOptions = true,
            description = "PPO step time (sampling the responses, scoring them with reward, value and reference, and the "
                    + "clipped updates) and episodes/s with LoRA, and peak resident memory, for the presets; the reward "
                    + "and value models are the preset with a score head.")
    static final class Ppo implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Mixin
        Presets presets;

        @Option(names = "--steps", defaultValue = "3", paramLabel = "N",
                description = "Timed PPO steps per preset, after one warm-up step (default: ${DEFAULT-VALUE}).")
        int steps;

        @Option(names = "--batch-size", defaultValue = "8", paramLabel = "N", description = "Responses per step (default: ${DEFAULT-VALUE}).")
        int batchSize;

        @Option(names = "--response-length", defaultValue = "32", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}.")
        int responseLength;

        @Mixin
        DeviceOption device;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            out.printf("%-14s %10s %12s %14s%n", "PRESET", "S/STEP", "EPISODES/S", "PEAK RSS MIB");
            List<Prompt> prompts = TwoStyleChat.trainFacts().stream().map(f -> Prompt.user(f.question())).toList();
            PpoTrainer.Options options = PpoTrainer.Options.builder().batchSize(batchSize).totalEpisodes(batchSize * (steps + 1))
                    .learningRate(1e-5).temperature(1.0).responseLength(responseLength)
                    .lora(new LoraAdapter.Config(16, 32, 0, LoraAdapter.ALL_TARGETS)).seed(1).build();
            presets.forEachWrittenForTheTask((preset, dir) -> {
                resetPeakResident();
                long[] marks = new long[steps + 2];
                try (ChatTokenizer tokenizer = ChatTokenizer.load(dir);
                     LlamaForCausalLM policy = LlamaForCausalLM.load(dir, device.device());
                     LlamaForSequenceClassification value = policy.toRewardModel(2);
                     LlamaForSequenceClassification reward = policy.toRewardModel(3);
                     PpoTrainer trainer = new PpoTrainer(policy, null, value, reward, tokenizer, options)) {
                    trainer.train(prompts, step -> marks[step.step()] = System.nanoTime());
                }
                double seconds = (marks[steps + 1] - marks[1]) / 1e9 / steps;
                out.printf("%-14s %10.2f %12.2f %14d%n", preset.id(), seconds, batchSize / seconds, peakResidentMiB());
                out.flush();
            });
            return 0;
        }
    }

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

        @Mixin
        Presets presets;

        @Option(names = "--iterations", defaultValue = "3", paramLabel = "N",
                description = "Timed forwards per preset, after one warm-up (default: ${DEFAULT-VALUE}).")
        int iterations;

        @Mixin
        DeviceOption device;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            out.printf("%-14s %10s %22s %16s %14s%n", "PRESET", "PARAMS", "FORWARD TOK/S (8x256)", "GENERATE TOK/S", "PEAK RSS MIB");
            for (String name : presets.names) {
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
                    FileUtils.deleteDirectory(dir.toFile());
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

    }

    /** {@code --presets}: which model presets a benchmark measures. */
    static final class Presets {
        @Option(names = "--presets", split = ",", defaultValue = "tiny,smollm2-135m", paramLabel = "NAME",
                description = "Presets to measure (default: ${DEFAULT-VALUE}).")
        List<String> names;

        /** What a benchmark does with one preset written to a folder. */
        interface Run {
            void accept(ModelPresets preset, Path dir) throws Exception;
        }

        /** Writes each preset, its tokenizer learned with the two-style task's corpus, to a temporary folder for {@code run}. */
        void forEachWrittenForTheTask(Run run) throws Exception {
            for (String name : names) {
                ModelPresets preset = ModelPresets.byId(name);
                Path dir = Files.createTempDirectory("kaizen-bench-");
                try {
                    preset.write(dir, 1, TwoStyleChat.corpus());
                    run.accept(preset, dir);
                } finally {
                    FileUtils.deleteDirectory(dir.toFile());
                }
            }
        }
    }

    /** Makes VmHWM start again from the current size, so writing the preset does not count. */
    static void resetPeakResident() throws IOException {
        System.gc();
        Files.writeString(Path.of("/proc/self/clear_refs"), "5");
    }

    /** VmHWM: the most resident memory this process has held, Java heap and native tensors together. */
    static long peakResidentMiB() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
            }
        }
        return -1;
    }
}
