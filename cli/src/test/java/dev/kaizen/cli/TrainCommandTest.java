package dev.kaizen.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.synthetic.TwoStyleChat;

/** The train, merge and adapter options of the command line, on a tiny model and the synthetic task. */
class TrainCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path root;

    static Path base;
    static Path ktoData;

    @BeforeAll
    static void baseAndData() throws Exception {
        base = root.resolve("base");
        assertThat(CliRun.of("model", "init", "--preset", "tiny", "--out", base.toString()).exitCode()).isZero();
        ktoData = root.resolve("kto.jsonl");
        List<String> lines = new ArrayList<>();
        for (TwoStyleChat.Example e : TwoStyleChat.sample(TwoStyleChat.trainFacts(), 24, 0.5, 1)) {
            lines.add(JSON.writeValueAsString(Map.of(
                    "prompt", List.of(Map.of("role", "user", "content", e.fact().question())),
                    "completion", List.of(Map.of("role", "assistant", "content", e.answer())),
                    "label", e.style() == TwoStyleChat.Style.A)));
        }
        Files.write(ktoData, lines);
    }

    @Test
    void ktoWritesAnAdapterAndTrlNamedMetrics() throws Exception {
        Path out = root.resolve("kto-adapter");
        Path metrics = root.resolve("kto-metrics.jsonl");
        CliRun run = CliRun.of("train", "kto", "--model", base.toString(), "--data", ktoData.toString(), "--out", out.toString(),
                "--batch-size", "4", "--learning-rate", "1e-3", "--metrics", metrics.toString(), "--lora-rank", "4");
        assertThat(run.exitCode()).as(run.err()).isZero();
        assertThat(run.out()).contains("trained kto for 6 steps on 24 rows");
        assertThat(out.resolve("adapter_config.json")).exists();
        assertThat(out.resolve("adapter_model.safetensors")).exists();
        List<String> lines = Files.readAllLines(metrics);
        assertThat(lines).hasSize(6);
        JsonNode last = JSON.readTree(lines.get(5));
        assertThat(last.get("step").asInt()).isEqualTo(6);
        for (String key : List.of("loss", "kl", "rewards/chosen", "rewards/rejected", "logps/chosen", "grad_norm", "learning_rate")) {
            assertThat(last.has(key)).as(key).isTrue();
        }

        Path merged = root.resolve("merged");
        CliRun merge = CliRun.of("model", "merge", "--model", base.toString(), "--adapter", out.toString(), "--out", merged.toString());
        assertThat(merge.exitCode()).as(merge.err()).isZero();
        JsonNode withAdapter = logprobs("--model", base.toString(), "--adapter", out.toString());
        JsonNode fromMerged = logprobs("--model", merged.toString());
        JsonNode plainBase = logprobs("--model", base.toString());
        double moved = 0;
        for (int i = 0; i < withAdapter.get("logprobs").size(); i++) {
            double a = withAdapter.get("logprobs").get(i).asDouble();
            assertThat(fromMerged.get("logprobs").get(i).asDouble()).isCloseTo(a, within(1e-4));
            moved += Math.abs(a - plainBase.get("logprobs").get(i).asDouble());
        }
        assertThat(moved).as("training changed the model").isGreaterThan(1e-3);
    }

    @Test
    void aBadRowStopsTrainingWithFileAndLine() throws Exception {
        Path bad = root.resolve("bad.jsonl");
        Files.write(bad, List.of(Files.readAllLines(ktoData).get(0), "{\"prompt\": \"Q\", \"completion\": \"A\"}"));
        CliRun run = CliRun.of("train", "kto", "--model", base.toString(), "--data", bad.toString(), "--out", root.resolve("x").toString());
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.err()).contains(bad + ":2: 'label' must be true or false");
        assertThat(root.resolve("x")).doesNotExist();
    }

    /** Hyper-parameters that would train the wrong way, or not at all, are refused before any work starts. */
    @Test
    void nonsensicalHyperParametersAreRefusedNamingThem() {
        for (String[] bad : List.of(new String[] {"--beta", "-5"}, new String[] {"--learning-rate", "-1e-3"},
                new String[] {"--desirable-weight", "0"}, new String[] {"--warmup-ratio", "2"})) {
            Path out = root.resolve("refused");
            List<String> args = new ArrayList<>(List.of("train", "kto", "--model", base.toString(), "--data", ktoData.toString(),
                    "--out", out.toString()));
            args.addAll(List.of(bad));
            CliRun run = CliRun.of(args.toArray(String[]::new));
            assertThat(run.exitCode()).as(String.join(" ", bad)).isEqualTo(1);
            assertThat(run.err()).as(String.join(" ", bad)).contains(bad[0].substring(2).split("-")[0]).contains("must");
            assertThat(out).doesNotExist();
        }
    }

    /** In a log (standard error not a terminal) the progress bar writes whole lines: no carriage returns, nothing cut off. */
    @Test
    void progressInALogIsWholeLines() throws Exception {
        CliProcess run = CliProcess.of("train", "kto", "--model", base.toString(), "--data", ktoData.toString(),
                "--out", root.resolve("logged").toString(), "--batch-size", "4", "--max-steps", "2", "--lora-rank", "4");
        assertThat(run.exitCode()).as(run.err()).isZero();
        assertThat(run.err()).contains("2/2").doesNotContain("\r");
    }

    @Test
    void fullFineTuningWritesAWholeModel() throws Exception {
        Path sft = root.resolve("sft.jsonl");
        Files.write(sft, List.of("{\"prompt\": \"What is Kafka?\", \"completion\": \" A log.\"}",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello.\"}]}"));
        Path out = root.resolve("sft-full");
        CliRun run = CliRun.of("train", "sft", "--model", base.toString(), "--data", sft.toString(), "--out", out.toString(),
                "--lora-rank", "0", "--batch-size", "2", "--epochs", "3", "--learning-rate", "1e-3");
        assertThat(run.exitCode()).as(run.err()).isZero();
        assertThat(out.resolve("model.safetensors")).exists();
        assertThat(out.resolve("tokenizer.json")).exists();
        assertThat(logprobs("--model", out.toString()).get("completion_logprob_sum").asDouble())
                .isGreaterThan(logprobs("--model", base.toString()).get("completion_logprob_sum").asDouble());
    }

    @Test
    void rmWritesARewardModelDirectory() throws Exception {
        Path out = root.resolve("rm");
        CliRun run = CliRun.of("train", "rm", "--model", base.toString(), "--data", pairs().toString(), "--out", out.toString(),
                "--batch-size", "4", "--learning-rate", "1e-3", "--center-rewards-coefficient", "0.01");
        assertThat(run.exitCode()).as(run.err()).isZero();
        JsonNode config = JSON.readTree(out.resolve("config.json").toFile());
        assertThat(config.get("architectures").get(0).asText()).isEqualTo("LlamaForSequenceClassification");
        assertThat(config.get("num_labels").asInt()).isEqualTo(1);
        try (var weights = dev.kaizen.alignment.weights.ModelWeights.open(out)) {
            assertThat(weights.names()).contains("score.weight").doesNotContain("lm_head.weight");
            assertThat(weights.entry("score.weight").shape()).containsExactly(1, 128);
        }
    }

    @Test
    void ppoTrainsAnAdapterAgainstARewardModelWithTrlNamedMetrics() throws Exception {
        Path rm = root.resolve("rm-for-ppo");
        CliRun rmRun = CliRun.of("train", "rm", "--model", base.toString(), "--data", pairs().toString(), "--out", rm.toString(),
                "--max-steps", "1");
        assertThat(rmRun.exitCode()).as(rmRun.err()).isZero();
        Path prompts = root.resolve("prompts.jsonl");
        List<String> lines = new ArrayList<>();
        for (TwoStyleChat.Fact f : TwoStyleChat.trainFacts().subList(0, 6)) {
            lines.add(lines.size() % 2 == 0 ? JSON.writeValueAsString(Map.of("prompt", f.question()))
                    : JSON.writeValueAsString(Map.of("prompt", List.of(Map.of("role", "user", "content", f.question())))));
        }
        Files.write(prompts, lines);
        Path out = root.resolve("ppo-adapter");
        Path metrics = root.resolve("ppo-metrics.jsonl");
        CliRun run = CliRun.of("train", "ppo", "--model", base.toString(), "--reward-model", rm.toString(), "--prompts", prompts.toString(),
                "--out", out.toString(), "--batch-size", "4", "--num-mini-batches", "2", "--total-episodes", "8", "--response-length", "6",
                "--learning-rate", "1e-3", "--lora-rank", "4", "--missing-eos-penalty", "1", "--target-kl", "6", "--kl-estimator", "k3",
                "--metrics", metrics.toString());
        assertThat(run.exitCode()).as(run.err()).isZero();
        assertThat(run.out()).contains("trained ppo for 2 steps (8 episodes) on 6 prompts");
        assertThat(out.resolve("adapter_config.json")).exists();
        assertThat(out.resolve("adapter_model.safetensors")).exists();
        List<String> steps = Files.readAllLines(metrics);
        assertThat(steps).hasSize(2);
        JsonNode last = JSON.readTree(steps.get(1));
        assertThat(last.get("episode").asInt()).isEqualTo(8);
        for (String key : List.of("objective/kl", "objective/entropy", "objective/non_score_reward", "objective/rlhf_reward",
                "objective/scores", "policy/approxkl_avg", "policy/clipfrac_avg", "loss/policy_avg", "loss/value_avg", "val/clipfrac_avg",
                "val/ratio", "val/num_eos_tokens", "lr", "kl_coef")) {
            assertThat(last.has(key)).as(key).isTrue();
            assertThat(last.get(key).asDouble()).as(key).isFinite();
        }
        // k3 never charges a negative KL.
        assertThat(last.get("objective/kl").asDouble()).isGreaterThanOrEqualTo(0);
    }

    @Test
    void ppoWithoutItsInputsSaysWhatIsMissing() {
        CliRun run = CliRun.of("train", "ppo", "--model", base.toString(), "--out", root.resolve("y").toString());
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.err()).contains("ppo needs --prompts FILE and --reward-model DIR");
        CliRun kto = CliRun.of("train", "kto", "--model", base.toString(), "--out", root.resolve("y").toString());
        assertThat(kto.err()).contains("--data FILE is needed for kto");
        assertThat(root.resolve("y")).doesNotExist();
    }

    /** Style A chosen over style B for eight train facts, with a margin; written once. */
    private static synchronized Path pairs() throws Exception {
        Path data = root.resolve("pairs.jsonl");
        if (!Files.exists(data)) {
            List<String> lines = new ArrayList<>();
            for (TwoStyleChat.Fact f : TwoStyleChat.trainFacts().subList(0, 8)) {
                lines.add(JSON.writeValueAsString(Map.of("prompt", f.question(), "chosen", f.answer(TwoStyleChat.Style.A),
                        "rejected", f.answer(TwoStyleChat.Style.B), "margin", 0.5)));
            }
            Files.write(data, lines);
        }
        return data;
    }

    private static JsonNode logprobs(String... model) throws Exception {
        List<String> args = new ArrayList<>(List.of("model", "logprobs"));
        args.addAll(List.of(model));
        args.addAll(List.of("--prompt", "What is Kafka?", "--completion", " A log."));
        CliRun run = CliRun.of(args.toArray(String[]::new));
        assertThat(run.exitCode()).as(run.err()).isZero();
        return JSON.readTree(run.out());
    }
}
