package dev.kaizen.alignment.train;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import ai.djl.Device;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import dev.kaizen.alignment.TestModels;
import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.alignment.tokenize.ChatTokenizer;

/** A long run leaks nothing: resident memory and live arrays stay flat from step 200 to step 1,000. */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class TrainingMemoryTest {

    @Test
    void memoryStaysFlatOverAThousandSteps() {
        TrainingOptions options = TrainingOptions.builder(TrainingOptions.Method.KTO)
                .lora(new LoraAdapter.Config(4, 8, 0.05, LoraAdapter.ALL_TARGETS))
                .batchSize(4).maxSteps(1000).epochs(1000).learningRate(1e-4).shuffle(true).build();
        List<Row> rows = TwoStyleChat.ktoRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), 64, 0.5, 3));
        long[] rss = new long[2];
        int[] arrays = new int[2];
        try (LlamaForCausalLM model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             Trainer trainer = Trainer.kto(model, tokenizer, null, options, rows)) {
            trainer.train(rows, step -> {
                if (step.step() == 200 || step.step() == 1000) {
                    int i = step.step() == 200 ? 0 : 1;
                    System.gc();
                    rss[i] = residentKiB();
                    arrays[i] = model.manager().getManagedArrays().size();
                }
            });
        }
        System.out.printf("resident %d KiB at step 200, %d KiB at step 1000; %d and %d arrays%n", rss[0], rss[1], arrays[0], arrays[1]);
        assertThat(arrays[1]).isEqualTo(arrays[0]);
        assertThat(rss[1] - rss[0]).as("resident growth in KiB").isLessThan(32 * 1024);
    }

    private static long residentKiB() {
        try {
            return Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("VmRSS:"))
                    .mapToLong(l -> Long.parseLong(l.replaceAll("[^0-9]", ""))).findFirst().orElseThrow();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
