package dev.kaizen.alignment.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.djl.Device;
import org.junit.jupiter.api.Test;

import dev.kaizen.alignment.TestModels;
import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.alignment.tokenize.ChatTokenizer;

class TrainerTest {

    private static final List<Row> ROWS = TwoStyleChat.ktoRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), 32, 0.5, 4));

    private static TrainingOptions.Builder kto() {
        return TrainingOptions.builder(TrainingOptions.Method.KTO).batchSize(4).maxSteps(5).learningRate(1e-3).shuffle(true)
                .lora(new LoraAdapter.Config(4, 8, 0.1, LoraAdapter.ALL_TARGETS));
    }

    private static Map<String, float[]> train(TrainingOptions options, List<Trainer.Step> steps) {
        try (LlamaForCausalLM model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             Trainer trainer = Trainer.kto(model, tokenizer, null, options, ROWS)) {
            steps.addAll(trainer.train(ROWS, s -> { }));
            Map<String, float[]> weights = new LinkedHashMap<>();
            trainer.adapter().parameters().forEach((name, p) -> weights.put(name, p.toFloatArray()));
            return weights;
        }
    }

    @Test
    void theSameSeedTrainsTheSameAdapterBitForBit() {
        Map<String, float[]> first = train(kto().seed(7).build(), new java.util.ArrayList<>());
        Map<String, float[]> second = train(kto().seed(7).build(), new java.util.ArrayList<>());
        Map<String, float[]> other = train(kto().seed(8).build(), new java.util.ArrayList<>());
        first.forEach((name, w) -> assertThat(second.get(name)).as(name).containsExactly(w));
        assertThat(first.entrySet().stream().anyMatch(e -> !java.util.Arrays.equals(e.getValue(), other.get(e.getKey())))).isTrue();
    }

    @Test
    void accumulationStepsOnceEveryNMicroBatches() {
        List<Trainer.Step> steps = new java.util.ArrayList<>();
        train(kto().maxSteps(-1).epochs(1).gradientAccumulationSteps(2).build(), steps);
        assertThat(steps).hasSize(4);  // 32 rows, batches of 4, two per step
        assertThat(steps.get(3).epoch()).isEqualTo(1.0);
        steps.forEach(s -> assertThat(s.metrics()).containsKeys("loss", "kl", "grad_norm", "learning_rate"));
        assertThat(steps.get(0).metrics().get("learning_rate")).isGreaterThan(steps.get(3).metrics().get("learning_rate"));
    }

    @Test
    void fullFineTuningWithAPreferenceMethodNeedsAReference() {
        try (LlamaForCausalLM model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny())) {
            assertThatThrownBy(() -> Trainer.kto(model, tokenizer, null, kto().lora(null).build(), ROWS))
                    .hasMessageContaining("needs a reference model");
            assertThatThrownBy(() -> kto().batchSize(1).build()).hasMessageContaining("KTO needs a batch size of at least 2");
        }
    }
}
