package dev.kaizen.alignment.generate;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.kaizen.alignment.TestModels;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.tokenize.ChatTokenizer;

class GeneratorTest {

    static LlamaForCausalLM model;
    static ChatTokenizer tokenizer;
    static Generator generator;
    static int[] prompt;

    @BeforeAll
    static void load() {
        model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
        tokenizer = ChatTokenizer.load(TestModels.tiny());
        generator = new Generator(model, tokenizer);
        prompt = tokenizer.encode("The quick brown fox");
    }

    @AfterAll
    static void close() {
        tokenizer.close();
        model.close();
    }

    @Test
    void greedyWithTheCacheEqualsArgmaxRecomputedFromScratch() {
        Generator.Generation g = generator.generate(prompt, new SamplingParams(12, 0, 0, 1, 0, List.of(), false), null);
        assertThat(g.finishReason()).isEqualTo(Generator.FinishReason.LENGTH);
        int[] seq = prompt.clone();
        for (int step = 0; step < 12; step++) {
            int next;
            try (NDScope scope = new NDScope(); NDManager m = model.manager().newSubManager()) {
                float[] last = model.forward(m.create(new long[][] {Arrays.stream(seq).asLongStream().toArray()}), null, null)
                        .get(":, -1, :").toFloatArray();
                next = Sampler.argmax(last);
            }
            assertThat(g.ids()[step]).as("token %d", step).isEqualTo(next);
            seq = Arrays.copyOf(seq, seq.length + 1);
            seq[seq.length - 1] = next;
        }
    }

    @Test
    void streamedPiecesAddUpToTheText() {
        List<String> pieces = new ArrayList<>();
        Generator.Generation g = generator.generate(prompt, new SamplingParams(20, 1.0, 0, 1, 5, List.of(), false), pieces::add);
        assertThat(String.join("", pieces)).isEqualTo(g.text());
        assertThat(g.text()).isEqualTo(tokenizer.decode(g.ids(), true));
    }

    @Test
    void aSeedReproducesTheSampledAnswer() {
        SamplingParams p = new SamplingParams(16, 1.2, 50, 0.9, 99, List.of(), false);
        assertThat(generator.generate(prompt, p, null).ids()).isEqualTo(generator.generate(prompt, p, null).ids());
    }

    @Test
    void aStopStringEndsTheAnswerBeforeIt() {
        Generator.Generation free = generator.generate(prompt, new SamplingParams(24, 0, 0, 1, 0, List.of(), false), null);
        String stop = free.text().substring(free.text().length() / 2, free.text().length() / 2 + 2);
        List<String> pieces = new ArrayList<>();
        Generator.Generation stopped = generator.generate(prompt, new SamplingParams(24, 0, 0, 1, 0, List.of(stop), false), pieces::add);
        assertThat(stopped.finishReason()).isEqualTo(Generator.FinishReason.STOP);
        assertThat(stopped.text()).isEqualTo(free.text().substring(0, free.text().indexOf(stop)));
        assertThat(String.join("", pieces)).isEqualTo(stopped.text());
    }

    @Test
    void theEosTokenEndsTheAnswer() throws Exception {
        SamplingParams sampled = new SamplingParams(16, 1.0, 0, 1, 5, List.of(), false);
        Generator.Generation free = generator.generate(prompt, sampled, null);
        int eosAt = 1;
        while (Arrays.stream(free.ids(), 0, eosAt).boxed().toList().contains(free.ids()[eosAt])) {
            eosAt++;
        }
        // A copy of the model whose config names a token first sampled at eosAt as its end-of-sequence token.
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("kaizen-eos-");
        model.save(dir, Long.MAX_VALUE);
        var config = (com.fasterxml.jackson.databind.node.ObjectNode) new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(dir.resolve("config.json").toFile());
        config.put("eos_token_id", free.ids()[eosAt]);
        java.nio.file.Files.writeString(dir.resolve("config.json"), config.toString());
        try (LlamaForCausalLM eosModel = LlamaForCausalLM.load(dir, Device.cpu())) {
            Generator.Generation g = new Generator(eosModel, tokenizer)
                    .generate(prompt, new SamplingParams(16, 1.0, 0, 1, 5, List.of(), true), null);
            assertThat(g.finishReason()).isEqualTo(Generator.FinishReason.STOP);
            assertThat(g.ids()).isEqualTo(Arrays.copyOf(free.ids(), eosAt));
        }
    }
}
