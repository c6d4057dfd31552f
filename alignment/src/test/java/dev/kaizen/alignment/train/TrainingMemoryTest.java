package dev.kaizen.alignment.train;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.TimeUnit;

import ai.djl.Device;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Structure;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import dev.kaizen.alignment.TestModels;
import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.alignment.tokenize.ChatTokenizer;

/**
 * A long run leaks nothing: live arrays and the native memory allocated and not yet freed stay flat
 * from step 200 to step 1,000. (Resident size is no measure of that: it also grows as the JVM
 * touches more of the heap it has committed, at no more heap in use.)
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class TrainingMemoryTest {

    @Test
    void memoryStaysFlatOverAThousandSteps() {
        TrainingOptions options = TrainingOptions.builder(TrainingOptions.Method.KTO)
                .lora(new LoraAdapter.Config(4, 8, 0.05, LoraAdapter.ALL_TARGETS))
                .batchSize(4).maxSteps(1000).epochs(1000).learningRate(1e-4).shuffle(true).build();
        List<Row> rows = TwoStyleChat.ktoRows(TwoStyleChat.sample(TwoStyleChat.trainFacts(), 64, 0.5, 3));
        long[] inUse = new long[2];
        int[] arrays = new int[2];
        try (LlamaForCausalLM model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             ChatTokenizer tokenizer = ChatTokenizer.load(TestModels.tiny());
             Trainer trainer = Trainer.kto(model, tokenizer, null, options, rows)) {
            trainer.train(rows, step -> {
                if (step.step() == 200 || step.step() == 1000) {
                    int i = step.step() == 200 ? 0 : 1;
                    System.gc();
                    inUse[i] = NativeHeap.inUseBytes();
                    arrays[i] = model.manager().getManagedArrays().size();
                }
            });
        }
        System.out.printf("native memory in use %d KiB at step 200, %d KiB at step 1000; %d and %d arrays%n", inUse[0] / 1024,
                inUse[1] / 1024, arrays[0], arrays[1]);
        assertThat(arrays[1]).isEqualTo(arrays[0]);
        assertThat(inUse[1] - inUse[0]).as("growth of native memory in use, bytes").isLessThan(8L << 20);
    }

    /** glibc's count of the bytes malloc has handed out and not had back (mallinfo2: heap chunks and mmapped ones). */
    private static final class NativeHeap {
        @Structure.FieldOrder({"arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"})
        public static final class MallInfo2 extends Structure implements Structure.ByValue {
            public long arena;
            public long ordblks;
            public long smblks;
            public long hblks;
            public long hblkhd;
            public long usmblks;
            public long fsmblks;
            public long uordblks;
            public long fordblks;
            public long keepcost;
        }

        private interface C extends Library {
            MallInfo2 mallinfo2();
        }

        private static final C LIBC = Native.load("c", C.class);

        static long inUseBytes() {
            MallInfo2 info = LIBC.mallinfo2();
            return info.uordblks + info.hblkhd;
        }
    }
}
