package dev.kaizen.alignment.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import ai.djl.Device;
import ai.djl.pytorch.jni.JniUtils;
import org.junit.jupiter.api.Test;

import dev.kaizen.alignment.TestModels;
import dev.kaizen.alignment.generate.Generator;
import dev.kaizen.alignment.generate.SamplingParams;
import dev.kaizen.alignment.score.Scorer;
import dev.kaizen.alignment.tokenize.ChatTokenizer;

/** Inference switches gradients off only while it runs: a training thread that generates still trains. */
class NoGradTest {

    @Test
    void scoringAndGeneratingLeaveTheThreadsGradModeAsTheyFoundIt() {
        try (LlamaForCausalLM model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny())) {
            boolean original = JniUtils.isGradMode();  // the natives are loaded once a model is
            try {
                checkModeIsRestored(model, tokenizer);
            } finally {
                JniUtils.setGradMode(original);
            }
        }
    }

    private static void checkModeIsRestored(LlamaForCausalLM model, ChatTokenizer tokenizer) {
        JniUtils.setGradMode(true);
        Scorer.score(model, List.of(new Scorer.Sequence(new int[] {1, 2, 3}, 1)));
        assertThat(JniUtils.isGradMode()).isTrue();
        new Generator(model, tokenizer).generate(new int[] {1, 2}, new SamplingParams(3, 0, 0, 1, 0, List.of(), false), null);
        assertThat(JniUtils.isGradMode()).isTrue();
        try (NoGrad noGrad = NoGrad.enter()) {
            assertThat(JniUtils.isGradMode()).isFalse();
        }
        assertThat(JniUtils.isGradMode()).isTrue();
    }
}
