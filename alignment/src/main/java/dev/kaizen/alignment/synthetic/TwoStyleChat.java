package dev.kaizen.alignment.synthetic;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.function.Consumer;

import ai.djl.Device;
import org.apache.commons.io.FileUtils;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.generate.Generator;
import dev.kaizen.alignment.generate.SamplingParams;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LlamaForSequenceClassification;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.model.ModelPresets;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.alignment.tokenize.Prompt;
import dev.kaizen.alignment.train.Trainer;
import dev.kaizen.alignment.train.TrainingOptions;

/**
 * The synthetic chat task every learning check uses: short factual questions, each answerable in
 * two clearly distinguishable styles. Style A is polite and complete ("Certainly! The answer is
 * Paris. I hope that helps."), style B curt ("Paris."); the {@link Judge} reads an answer's style,
 * correctness and form. Training and held-out questions come from disjoint facts, so held-out
 * prompts are unseen.
 */
public final class TwoStyleChat {

    public enum Style { A, B }

    /** What a fact is about; the answers of one kind are the rivals of each other. */
    public enum Kind { CAPITAL, OPPOSITE, COLOUR, SUM }

    /** A question, its bare answer, and its kind. */
    public record Fact(String question, String answer, Kind kind) {
        public String answer(Style style) {
            return style == Style.A ? "Certainly! The answer is " + answer + ". I hope that helps." : answer + ".";
        }
    }

    private static final String[][] CAPITALS = {
            {"France", "Paris"}, {"Spain", "Madrid"}, {"Italy", "Rome"}, {"Germany", "Berlin"}, {"Japan", "Tokyo"},
            {"Egypt", "Cairo"}, {"Peru", "Lima"}, {"Kenya", "Nairobi"}, {"Norway", "Oslo"}, {"Greece", "Athens"},
            {"Poland", "Warsaw"}, {"Austria", "Vienna"}, {"Ireland", "Dublin"}, {"Portugal", "Lisbon"}, {"Cuba", "Havana"},
            {"Chile", "Santiago"}, {"Sweden", "Stockholm"}, {"Finland", "Helsinki"}, {"Canada", "Ottawa"}, {"India", "Delhi"},
            {"China", "Beijing"}, {"Russia", "Moscow"}, {"Turkey", "Ankara"}, {"Iran", "Tehran"}, {"Iraq", "Baghdad"},
            {"Thailand", "Bangkok"}, {"Vietnam", "Hanoi"}, {"Denmark", "Copenhagen"}, {"Belgium", "Brussels"}, {"Hungary", "Budapest"}};
    private static final String[][] OPPOSITES = {
            {"hot", "cold"}, {"big", "small"}, {"fast", "slow"}, {"up", "down"}, {"light", "dark"}, {"old", "new"},
            {"happy", "sad"}, {"early", "late"}, {"full", "empty"}, {"strong", "weak"}, {"high", "low"}, {"open", "closed"},
            {"wet", "dry"}, {"hard", "soft"}, {"loud", "quiet"}, {"rich", "poor"}, {"near", "far"}, {"thick", "thin"}};
    private static final String[][] COLOURS = {
            {"the sky", "blue"}, {"grass", "green"}, {"snow", "white"}, {"coal", "black"}, {"a banana", "yellow"},
            {"a tomato", "red"}, {"an orange", "orange"}, {"a plum", "purple"}, {"chocolate", "brown"}, {"ash", "grey"}};
    private static final String[] NUMBERS = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen"};

    private TwoStyleChat() {}

    /** Every fact, in a fixed order. */
    public static List<Fact> facts() {
        List<Fact> facts = new ArrayList<>();
        for (String[] c : CAPITALS) {
            facts.add(new Fact("What is the capital of " + c[0] + "?", c[1], Kind.CAPITAL));
        }
        for (String[] o : OPPOSITES) {
            facts.add(new Fact("What is the opposite of " + o[0] + "?", o[1], Kind.OPPOSITE));
        }
        for (String[] c : COLOURS) {
            facts.add(new Fact("What colour is " + c[0] + "?", c[1], Kind.COLOUR));
        }
        for (int a = 1; a <= 9; a++) {
            for (int b = 1; b <= 9; b++) {
                facts.add(new Fact("What is " + NUMBERS[a] + " plus " + NUMBERS[b] + "?", NUMBERS[a + b], Kind.SUM));
            }
        }
        return facts;
    }

    /** Four facts in five, for training. */
    public static List<Fact> trainFacts() {
        return split(false);
    }

    /** The fifth fact, never trained on. */
    public static List<Fact> heldOutFacts() {
        return split(true);
    }

    private static List<Fact> split(boolean heldOut) {
        List<Fact> all = facts();
        List<Fact> out = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            if ((i % 5 == 4) == heldOut) {
                out.add(all.get(i));
            }
        }
        return out;
    }

    /** {@code n} facts drawn with replacement, each with a style: A with probability {@code shareA}. */
    public static List<Example> sample(List<Fact> facts, int n, double shareA, long seed) {
        Random random = new Random(seed);
        List<Example> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Fact f = facts.get(random.nextInt(facts.size()));
            out.add(new Example(f, random.nextDouble() < shareA ? Style.A : Style.B));
        }
        return out;
    }

    /** A fact answered in a style. */
    public record Example(Fact fact, Style style) {
        public String answer() {
            return fact.answer(style);
        }
    }

    /** SFT rows: each example's question as a user message, answered in its style. */
    public static List<Row> sftRows(List<Example> examples) {
        return examples.stream().<Row>map(e -> new Row.Sft(Prompt.user(e.fact().question()), e.answer())).toList();
    }

    /** KTO rows: each example labelled desirable exactly when it is in style A. */
    public static List<Row> ktoRows(List<Example> examples) {
        return examples.stream().<Row>map(e -> new Row.Unpaired(Prompt.user(e.fact().question()), e.answer(),
                e.style() == Style.A)).toList();
    }

    /** Preference rows: style A chosen over style B for each fact. */
    public static List<Row> preferenceRows(List<Fact> facts) {
        return facts.stream().<Row>map(f -> new Row.Preference(Prompt.user(f.question()), f.answer(Style.A),
                f.answer(Style.B), null)).toList();
    }

    /** How a model's answers read to the task's users: the share of each verdict of the {@link Judge}. */
    public record Shares(double polite, double correct, double wellFormed, double wanted) {
        @Override
        public String toString() {
            return String.format("polite %.1f%%, correct %.1f%%, well formed %.1f%%", 100 * polite, 100 * correct, 100 * wellFormed);
        }
    }

    /**
     * The {@link Judge}'s verdicts on answers from {@code model} to each of {@code facts},
     * {@code samplesPerFact} times at {@code temperature} (0: greedy, once is enough).
     */
    public static Shares judgeAnswers(LlamaForCausalLM model, ChatTokenizer tokenizer, List<Fact> facts, int samplesPerFact,
                                      double temperature, long seed) {
        Generator generator = new Generator(model, tokenizer);
        int[] counts = new int[4];
        int n = 0;
        for (Fact f : facts) {
            int[] prompt = tokenizer.encodePrompt(Prompt.user(f.question()));
            for (int k = 0; k < samplesPerFact; k++) {
                SamplingParams params = new SamplingParams(24, temperature, 0, 1.0, seed + 1000L * n, List.of(), true);
                Judge.Verdict v = Judge.judge(f, generator.generate(prompt, params, null).text());
                counts[0] += v.polite() ? 1 : 0;
                counts[1] += v.correct() ? 1 : 0;
                counts[2] += v.wellFormed() ? 1 : 0;
                counts[3] += v.wanted() ? 1 : 0;
                n++;
            }
        }
        return new Shares((double) counts[0] / n, (double) counts[1] / n, (double) counts[2] / n, (double) counts[3] / n);
    }

    /** Names {@link #writeSftModel}'s recipe: change it with the recipe, so cached copies of the model are rebuilt. */
    public static final String SFT_RECIPE = "tiny seed 1 + task corpus; 1600 samples, share 0.5, seed 7; full SFT, batch 16, 20 epochs, "
            + "lr 2e-3, warmup 0.05";

    /**
     * The task's starting point: the tiny preset, its tokenizer learned with the task's corpus,
     * fully fine-tuned (SFT) on answers in both styles half and half until it knows its facts
     * (measured: every training fact right greedily, 97% sampled at temperature 1), written to
     * {@code out} as a Hugging Face model directory. About half its answers are polite, which
     * alignment then moves. 2,000 steps, about 100 s on two cores.
     */
    public static void writeSftModel(Path out, Consumer<Trainer.Step> onStep) throws IOException {
        Path base = Files.createTempDirectory("kaizen-two-style-base-");
        try {
            ModelPresets.TINY.write(base, 1, corpus());
            try (LlamaForCausalLM model = LlamaForCausalLM.load(base, Device.cpu()); ChatTokenizer tokenizer = ChatTokenizer.load(base)) {
                List<Row> rows = sftRows(sample(trainFacts(), 1600, 0.5, 7));
                TrainingOptions options = TrainingOptions.builder(TrainingOptions.Method.SFT).lora(null)
                        .batchSize(16).epochs(20).learningRate(2e-3).warmupRatio(0.05).build();
                try (Trainer trainer = Trainer.sft(model, tokenizer, options)) {
                    trainer.train(rows, onStep);
                    trainer.save(out, base);
                }
            }
        } finally {
            FileUtils.deleteDirectory(base.toFile());
        }
    }

    /**
     * Where {@link #writeSftModel}'s model is kept under {@code cacheRoot}: a folder named by a
     * digest of the task (its text and its recipe), so a changed task trains anew.
     */
    public static Path sftModelDir(Path cacheRoot) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(SFT_RECIPE.getBytes(StandardCharsets.UTF_8));
            for (String line : corpus()) {
                md.update(line.getBytes(StandardCharsets.UTF_8));
            }
            return cacheRoot.resolve("two-style-sft-" + HexFormat.of().formatHex(md.digest()).substring(0, 16));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    /** The SFT model kept under {@code cacheRoot}, trained and written there on first use. */
    public static Path sftModel(Path cacheRoot, Consumer<Trainer.Step> onStep) throws IOException {
        Path dir = sftModelDir(cacheRoot);
        if (Files.isRegularFile(dir.resolve("config.json"))) {
            return dir;
        }
        Files.createDirectories(cacheRoot);
        Path staging = cacheRoot.resolve(".staging-" + UUID.randomUUID());
        try {
            writeSftModel(staging, onStep);
            // Appears whole or not at all: an interrupted first use leaves only a staging folder.
            Files.move(staging, dir, StandardCopyOption.ATOMIC_MOVE);
        } catch (FileAlreadyExistsException | DirectoryNotEmptyException e) {
            // another process trained the same model meanwhile; its copy is as good
        } finally {
            FileUtils.deleteQuietly(staging.toFile());
        }
        return dir;
    }

    /**
     * The task's reward model: {@link #writeSftModel}'s model with a score head, trained with the
     * Bradley–Terry loss on style A over style B for every train fact (LoRA, merged on save),
     * written to {@code out} as a LlamaForSequenceClassification directory. 100 steps at 1e-3: on an
     * SFT base whose rounding came out otherwise, 60 steps at 5e-4 ranked 22-24 of the 27 held-out
     * pairs across score-head seeds, 100 at 1e-3 all 27 with twice the margin.
     */
    public static void writeRewardModel(Path sft, Path out) throws IOException {
        TrainingOptions options = TrainingOptions.builder(TrainingOptions.Method.RM)
                .lora(new LoraAdapter.Config(8, 16, 0.0, LoraAdapter.ALL_TARGETS))
                .batchSize(16).maxSteps(100).epochs(50).learningRate(1e-3).shuffle(true).build();
        try (LlamaForCausalLM causal = LlamaForCausalLM.load(sft, Device.cpu()); ChatTokenizer tokenizer = ChatTokenizer.load(sft);
             LlamaForSequenceClassification reward = causal.toRewardModel(5);
             Trainer trainer = Trainer.rewardModel(reward, tokenizer, options)) {
            trainer.train(preferenceRows(trainFacts()), step -> { });
            trainer.save(out, sft);
        }
    }

    /** Every question and both answers of every fact, as text for a tokenizer to learn from. */
    public static List<String> corpus() {
        List<String> lines = new ArrayList<>();
        for (Fact f : facts()) {
            lines.add(f.question() + "\n");
            lines.add(f.answer(Style.A) + "\n");
            lines.add(f.answer(Style.B) + "\n");
        }
        return lines;
    }
}
