package dev.kaizen.alignment.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Path;
import java.util.List;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.score.PaddedBatch;
import dev.kaizen.alignment.score.Scorer;
import dev.kaizen.alignment.weights.Dtype;
import dev.kaizen.alignment.weights.ModelWeights;

class RewardModelTest {

    private static final int[] LONG = {1, 17, 5, 42, 60, 3, 9};
    private static final int[] SHORT = {1, 8, 15};

    private static float[] rewards(LlamaForSequenceClassification model, List<int[]> seqs) {
        PaddedBatch batch = PaddedBatch.of(seqs.stream().map(ids -> new Scorer.Sequence(ids, 1)).toList());
        try (NoGrad noGrad = NoGrad.enter(); NDManager m = model.manager().newSubManager()) {
            return model.rewards(m.create(batch.ids()), m.create(batch.attention())).toFloatArray();
        }
    }

    @Test
    void theRewardIsReadAtEachRowsLastTokenWhateverThePadding(@TempDir Path dir) throws Exception {
        LlamaConfig config = LlamaConfig.parse(TinyConfigs.qwen2());
        try (LlamaForCausalLM causal = LlamaForCausalLM.fromTensors(config, TinyConfigs.randomWeights(config, 2, Dtype.F32), Device.cpu());
             LlamaForSequenceClassification reward = causal.toRewardModel(3)) {
            assertThat(reward.config().architecture()).isEqualTo("Qwen2ForSequenceClassification");
            assertThat(reward.config().qkvBias()).isTrue();
            float[] batch = rewards(reward, List.of(LONG, SHORT));
            assertThat(batch[0]).isCloseTo(rewards(reward, List.of(LONG))[0], within(1e-5f));
            assertThat(batch[1]).isCloseTo(rewards(reward, List.of(SHORT))[0], within(1e-5f));
            assertThat(batch[0]).isNotEqualTo(batch[1]);

            reward.save(dir, ModelWeights.DEFAULT_SHARD_BYTES);
            try (LlamaForSequenceClassification loaded = LlamaForSequenceClassification.load(dir, Device.cpu())) {
                assertThat(rewards(loaded, List.of(LONG, SHORT))).containsExactly(batch);
            }
            // Each head loads only a directory of its own kind, naming what the directory holds.
            assertThatThrownBy(() -> LlamaForCausalLM.load(dir, Device.cpu())).isInstanceOf(ModelDirectoryException.class)
                    .hasMessageContaining("Qwen2ForSequenceClassification").hasMessageContaining("causal language model");
            assertThat(LlamaPreTrainedModel.fromPretrained(dir, Device.cpu())).isInstanceOf(LlamaForSequenceClassification.class)
                    .satisfies(LlamaPreTrainedModel::close);
        }
    }
}
