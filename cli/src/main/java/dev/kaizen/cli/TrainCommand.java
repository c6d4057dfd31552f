package dev.kaizen.cli;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

import com.fasterxml.jackson.databind.ObjectMapper;
import me.tongfei.progressbar.ProgressBar;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.data.TrlDataset;
import dev.kaizen.alignment.loss.DpoLoss;
import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LlamaForSequenceClassification;
import dev.kaizen.alignment.model.LlamaPreTrainedModel;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.tokenize.ChatTokenizer;
import dev.kaizen.alignment.tokenize.Prompt;
import dev.kaizen.alignment.train.LearningRateSchedule;
import dev.kaizen.alignment.train.PpoTrainer;
import dev.kaizen.alignment.train.Trainer;
import dev.kaizen.alignment.train.TrainingOptions;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train a Hugging Face model directory on a TRL-format JSONL dataset: sft (prompt/completion or "
                + "messages), rm (prompt/chosen/rejected, optional margin: a Bradley-Terry reward model), dpo "
                + "(prompt/chosen/rejected) or kto (prompt/completion/label); or ppo against a reward model on prompts "
                + "(--prompts, prompt only). Writes a PEFT adapter directory, or with --lora-rank 0 a full model directory; rm "
                + "always writes a full *ForSequenceClassification directory.")
final class TrainCommand implements Callable<Integer> {

    enum Method { SFT, RM, DPO, KTO, PPO }

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "METHOD", description = "sft, rm, dpo, kto or ppo.")
    Method method;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The starting Hugging Face model directory.")
    Path model;

    @Option(names = "--data", paramLabel = "FILE", description = "TRL-format JSONL dataset (sft, rm, dpo, kto).")
    Path data;

    @Option(names = "--prompts", paramLabel = "FILE", description = "ppo: JSONL of {\"prompt\": …} rows the policy answers.")
    Path prompts;

    @Option(names = "--reward-model", paramLabel = "DIR", description = "ppo: the reward model (a *ForSequenceClassification directory).")
    Path rewardModel;

    @Option(names = "--value-model", paramLabel = "DIR", description = "ppo: where the value model starts (default: the reward model).")
    Path valueModel;

    @Mixin
    PpoOptions ppo;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Where to write the result; absent or empty.")
    Path out;

    @Option(names = "--ref-model", paramLabel = "DIR",
            description = "Reference model for dpo/kto. Default: with LoRA the starting model with the adapter off; "
                    + "with full fine-tuning a second copy of the starting model.")
    Path refModel;

    @Option(names = "--lora-rank", defaultValue = "16", paramLabel = "R", description = "LoRA rank; 0 trains every weight (default: ${DEFAULT-VALUE}).")
    int loraRank;

    @Option(names = "--lora-alpha", defaultValue = "32", paramLabel = "A", description = "LoRA alpha (default: ${DEFAULT-VALUE}).")
    double loraAlpha;

    @Option(names = "--lora-dropout", defaultValue = "0.05", paramLabel = "P", description = "LoRA dropout (default: ${DEFAULT-VALUE}).")
    double loraDropout;

    @Option(names = "--lora-target-modules", split = ",", paramLabel = "NAME",
            defaultValue = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", description = "Projections to adapt (default: all).")
    List<String> loraTargets;

    @Option(names = "--batch-size", defaultValue = "8", paramLabel = "N", description = "Rows per batch (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--gradient-accumulation-steps", defaultValue = "1", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}.")
    int accumulation;

    @Option(names = "--max-steps", defaultValue = "-1", paramLabel = "N", description = "Optimizer steps; overrides --epochs when positive.")
    int maxSteps;

    @Option(names = "--epochs", defaultValue = "1", paramLabel = "N", description = "Passes over the data (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--learning-rate", paramLabel = "LR", description = "Default: TRL's for the method (sft 2e-5, dpo and kto 1e-6, ppo 3e-6).")
    Double learningRate;

    @Option(names = "--warmup-ratio", defaultValue = "0", paramLabel = "R", description = "Share of steps spent warming up (default: ${DEFAULT-VALUE}).")
    double warmupRatio;

    @Option(names = "--lr-scheduler-type", defaultValue = "linear", paramLabel = "TYPE", description = "linear, cosine or constant (default: ${DEFAULT-VALUE}).")
    LearningRateSchedule.Decay schedule;

    @Option(names = "--beta", defaultValue = "0.1", paramLabel = "B", description = "β of dpo and kto (default: ${DEFAULT-VALUE}).")
    double beta;

    @Option(names = "--loss-type", paramLabel = "TYPE",
            description = "dpo: sigmoid (default), robust, ipo, hinge; kto: kto (default), apo_zero_unpaired.")
    String lossType;

    @Option(names = "--label-smoothing", defaultValue = "0", paramLabel = "E", description = "dpo's ε (default: ${DEFAULT-VALUE}).")
    double labelSmoothing;

    @Option(names = "--rpo-alpha", paramLabel = "A",
            description = "dpo: add A times the chosen answers' NLL (TRL's rpo_alpha; the RPO paper uses 1.0). Default: off.")
    Double rpoAlpha;

    @Option(names = "--desirable-weight", paramLabel = "W", description = "kto's λD; default: the [1, 4/3] rule from the label counts.")
    Double desirableWeight;

    @Option(names = "--undesirable-weight", paramLabel = "W", description = "kto's λU; default: the [1, 4/3] rule from the label counts.")
    Double undesirableWeight;

    @Option(names = "--center-rewards-coefficient", defaultValue = "0", paramLabel = "C",
            description = "rm's c·mean((r+ + r-)^2) term; 0 is off (default).")
    double centerRewardsCoefficient;

    @Option(names = "--shuffle", description = "Shuffle each epoch; batches are taken in file order otherwise.")
    boolean shuffle;

    @Option(names = "--seed", defaultValue = "42", description = "Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--max-length", defaultValue = "1024", paramLabel = "N", description = "Tokens per sequence (default: ${DEFAULT-VALUE}).")
    int maxLength;

    @Option(names = "--metrics", paramLabel = "FILE", description = "Write one JSON object per optimizer step, keys as TRL names them.")
    Path metrics;

    @Option(names = "--skip-bad-rows", description = "Skip and count rows that cannot be used, instead of stopping at the first.")
    boolean skipBadRows;

    @Mixin
    DeviceOption device;

    @Override
    public Integer call() throws Exception {
        ModelCommand.requireEmpty(out);
        if (method == Method.PPO) {
            return ppo();
        }
        if (data == null) {
            throw new IllegalArgumentException("--data FILE is needed for " + method.name().toLowerCase());
        }
        TrlDataset.Contents contents = read(data);
        TrainingOptions options = options();
        try (ChatTokenizer tokenizer = ChatTokenizer.load(model);
             LlamaPreTrainedModel trained = loadTrained();
             LlamaForCausalLM reference = loadReference();
             BufferedWriter metricsOut = metrics == null ? null : Files.newBufferedWriter(metrics);
             Trainer trainer = trainer(trained, tokenizer, reference, options, contents.rows())) {
            List<Trainer.Step> steps;
            try (Report report = new Report("train " + method.name().toLowerCase(), metricsOut)) {
                steps = trainer.train(contents.rows(), report::reference, step -> report.step(step.step(), step.totalSteps(), "epoch", step.epoch(),
                        step.metrics()));
            }
            trainer.save(out, model);
            Trainer.Step last = steps.get(steps.size() - 1);
            spec.commandLine().getOut().printf("trained %s for %d steps on %d rows: loss %.4f; wrote %s%n",
                    method.name().toLowerCase(), steps.size(), contents.rows().size(), last.metrics().get("loss"), out);
        }
        return 0;
    }

    private int ppo() throws IOException {
        if (prompts == null || rewardModel == null) {
            throw new IllegalArgumentException("ppo needs --prompts FILE and --reward-model DIR");
        }
        TrlDataset.Contents contents = read(prompts);
        List<Prompt> questions = contents.rows().stream().map(Row::prompt).toList();
        int episodes = ppo.totalEpisodes != null ? ppo.totalEpisodes : questions.size() * epochs;
        PpoTrainer.Options options = ppo.options(batchSize, episodes, learningRate == null ? 3e-6 : learningRate, lora(), seed);
        try (ChatTokenizer tokenizer = ChatTokenizer.load(model);
             LlamaForCausalLM policy = LlamaForCausalLM.load(model, device.device());
             LlamaForCausalLM reference = loadReference();
             LlamaForSequenceClassification value = LlamaForSequenceClassification.load(valueModel != null ? valueModel : rewardModel,
                     device.device());
             LlamaForSequenceClassification reward = LlamaForSequenceClassification.load(rewardModel, device.device());
             BufferedWriter metricsOut = metrics == null ? null : Files.newBufferedWriter(metrics);
             PpoTrainer trainer = new PpoTrainer(policy, reference, value, reward, tokenizer, options)) {
            List<PpoTrainer.Step> steps;
            try (Report report = new Report("train ppo", metricsOut)) {
                steps = trainer.train(questions, step -> report.step(step.step(), step.totalSteps(), "episode", step.episode(),
                        step.metrics()));
            }
            trainer.save(out, model);
            Map<String, Double> last = steps.get(steps.size() - 1).metrics();
            spec.commandLine().getOut().printf("trained ppo for %d steps (%d episodes) on %d prompts: score %.4f, kl %.4f; wrote %s%n",
                    steps.size(), steps.get(steps.size() - 1).episode(), questions.size(), last.get("objective/scores"),
                    last.get("objective/kl"), out);
        }
        return 0;
    }

    /** The method's rows of {@code file}, bad ones skipped and counted with --skip-bad-rows. */
    private TrlDataset.Contents read(Path file) {
        PrintWriter err = spec.commandLine().getErr();
        TrlDataset.Format format = switch (method) {
            case SFT -> TrlDataset.Format.SFT;
            case RM, DPO -> TrlDataset.Format.PREFERENCE;
            case KTO -> TrlDataset.Format.UNPAIRED;
            case PPO -> TrlDataset.Format.PROMPT;
        };
        TrlDataset.Contents contents = TrlDataset.read(file, format, skipBadRows, err::println);
        if (contents.skipped() > 0) {
            err.println("skipped " + contents.skipped() + " bad rows of " + file);
        }
        return contents;
    }

    private LoraAdapter.Config lora() {
        return loraRank == 0 ? null : new LoraAdapter.Config(loraRank, loraAlpha, loraDropout, loraTargets);
    }

    private TrainingOptions options() {
        TrainingOptions.Method m = TrainingOptions.Method.valueOf(method.name());
        TrainingOptions.Builder b = TrainingOptions.builder(m)
                .batchSize(batchSize).gradientAccumulationSteps(accumulation).maxSteps(maxSteps).epochs(epochs)
                .warmupRatio(warmupRatio).schedule(schedule).beta(beta).labelSmoothing(labelSmoothing).rpoAlpha(rpoAlpha)
                .desirableWeight(desirableWeight).undesirableWeight(undesirableWeight)
                .centerRewardsCoefficient(centerRewardsCoefficient).shuffle(shuffle).seed(seed)
                .maxLength(maxLength)
                .lora(lora());
        if (learningRate != null) {
            b.learningRate(learningRate);
        }
        if (lossType != null) {
            String t = lossType.toUpperCase();
            try {
                switch (method) {
                    case DPO -> b.dpoLoss(DpoLoss.Type.valueOf(t));
                    case KTO -> b.ktoLoss(KtoLoss.Type.valueOf(t));
                    case SFT, RM, PPO -> throw new IllegalArgumentException("--loss-type does not apply to " + method.name().toLowerCase());
                }
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(e.getMessage().startsWith("--") ? e.getMessage()
                        : "unknown --loss-type '" + lossType + "' for " + method.name().toLowerCase()
                        + "; dpo takes sigmoid, robust, ipo or hinge, kto takes kto or apo_zero_unpaired", e);
            }
        }
        return b.build();
    }

    /** Each step on a progress bar (made at the first step, when the total is known) and, given a file, as a JSON line. */
    private static final class Report implements AutoCloseable {
        private static final ObjectMapper JSON = new ObjectMapper();
        /** The figures a TRL user watches. */
        private static final List<String> SHOWN = List.of("loss", "kl", "rewards/chosen", "rewards/rejected", "rewards/margins",
                "objective/scores", "objective/kl", "policy/clipfrac_avg");
        private final String task;
        private final BufferedWriter metricsOut;
        private ProgressBar bar;
        private ProgressBar referenceBar;

        Report(String task, BufferedWriter metricsOut) {
            this.task = task;
            this.metricsOut = metricsOut;
        }

        /** Full fine-tuning's reference log-probs, computed ahead of the first step, on a bar of their own. */
        void reference(Trainer.ReferenceProgress progress) {
            if (referenceBar == null) {
                referenceBar = ProgressBars.start(task + " reference log-probs", progress.batches());
            }
            referenceBar.stepTo(progress.done());
            if (progress.done() == progress.batches()) {
                referenceBar.close();
            }
        }

        /** {@code where} is how far through the data: TRL's epoch, or episode for PPO. */
        void step(int step, int total, String whereKey, Number where, Map<String, Double> metrics) {
            if (metricsOut != null) {
                Map<String, Object> line = new LinkedHashMap<>();
                line.put("step", step);
                line.put(whereKey, where);
                line.putAll(metrics);
                try {
                    metricsOut.write(JSON.writeValueAsString(line));
                    metricsOut.newLine();
                    metricsOut.flush();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException("cannot write metrics", e);
                }
            }
            if (bar == null) {
                bar = ProgressBars.start(task, total);
            }
            bar.stepTo(step);
            bar.setExtraMessage(SHOWN.stream().filter(metrics::containsKey)
                    .map(k -> String.format("%s %.4f", k, metrics.get(k))).collect(Collectors.joining("  ")));
        }

        @Override
        public void close() {
            if (referenceBar != null && referenceBar.getCurrent() < referenceBar.getMax()) {
                referenceBar.close();  // training failed before the bar closed itself at its end
            }
            if (bar != null) {
                bar.close();
            }
        }
    }

    /** The model to train; for rm a causal model gains a score head (a model that has one is used as it is). */
    private LlamaPreTrainedModel loadTrained() {
        if (method != Method.RM) {
            return LlamaForCausalLM.load(model, device.device());
        }
        LlamaPreTrainedModel loaded = LlamaPreTrainedModel.fromPretrained(model, device.device());
        if (!(loaded instanceof LlamaForCausalLM causal)) {
            return loaded;
        }
        try (causal) {
            return causal.toRewardModel(seed);
        }
    }

    /** The method's trainer: rm trains the score head model {@link #loadTrained} made, the others a causal language model. */
    private Trainer trainer(LlamaPreTrainedModel trained, ChatTokenizer tokenizer, LlamaForCausalLM reference, TrainingOptions options,
                            List<Row> rows) {
        if (trained instanceof LlamaForSequenceClassification rm) {
            return Trainer.rewardModel(rm, tokenizer, options);
        }
        LlamaForCausalLM policy = (LlamaForCausalLM) trained;
        return switch (method) {
            case SFT -> Trainer.sft(policy, tokenizer, options);
            case DPO -> Trainer.dpo(policy, tokenizer, reference, options);
            case KTO -> Trainer.kto(policy, tokenizer, reference, options, rows);
            case RM, PPO -> throw new IllegalStateException(method + " has a trainer of its own");
        };
    }

    private LlamaForCausalLM loadReference() {
        if (refModel != null) {
            return LlamaForCausalLM.load(refModel, device.device());
        }
        boolean needsReference = method == Method.DPO || method == Method.KTO || method == Method.PPO;
        return needsReference && loraRank == 0 ? LlamaForCausalLM.load(model, device.device()) : null;
    }
}
