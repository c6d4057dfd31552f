package dev.kaizen.alignment.generate;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import java.util.function.Consumer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;

import dev.kaizen.alignment.model.KvCache;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.NoGrad;
import dev.kaizen.alignment.tokenize.ChatTokenizer;

/** Continues a prompt token by token with the KV cache, streaming the text as it grows. */
public final class Generator {

    /** What was generated: the new ids, their text (stop string excluded), and why it ended. */
    public record Generation(int[] ids, String text, FinishReason finishReason) {}

    public enum FinishReason { STOP, LENGTH }

    private final LlamaForCausalLM model;
    private final ChatTokenizer tokenizer;
    private final Set<Integer> eosIds = new HashSet<>();

    public Generator(LlamaForCausalLM model, ChatTokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
        eosIds.addAll(model.config().eosTokenIds());
        Integer eos = tokenizer.specialTokenId("eos_token");
        if (eos != null) {
            eosIds.add(eos);
        }
    }

    /** Generates after {@code promptIds}; {@code onText} receives each new piece of text as it is settled. */
    public Generation generate(int[] promptIds, SamplingParams p, Consumer<String> onText) {
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("the prompt has no tokens");
        }
        Random random = new Random(p.seed());
        int[] out = new int[p.maxNewTokens()];
        int n = 0;
        String emitted = "";
        int[] step = promptIds;
        try (NoGrad noGrad = NoGrad.enter(); KvCache cache = new KvCache(model.manager(), model.config().numLayers())) {
            while (n < p.maxNewTokens()) {
                int next = Sampler.next(lastLogits(step, cache), p, random);
                if (p.stopOnEos() && eosIds.contains(next)) {
                    return new Generation(Arrays.copyOf(out, n), emitted, FinishReason.STOP);
                }
                out[n++] = next;
                String text = tokenizer.decode(Arrays.copyOf(out, n), true);
                int stopAt = firstStop(text, p);
                if (stopAt >= 0) {
                    emit(onText, text.substring(0, stopAt), emitted);
                    return new Generation(Arrays.copyOf(out, n), text.substring(0, stopAt), FinishReason.STOP);
                }
                // Hold back a trailing partial UTF-8 character and anything that may yet become a stop string.
                String settled = settledPrefix(text, p);
                if (settled.length() > emitted.length() && settled.startsWith(emitted)) {
                    emit(onText, settled, emitted);
                    emitted = settled;
                }
                step = new int[] {next};
            }
            String text = tokenizer.decode(Arrays.copyOf(out, n), true);
            emit(onText, text, emitted);
            return new Generation(out, text, FinishReason.LENGTH);
        }
    }

    private float[] lastLogits(int[] ids, KvCache cache) {
        try (NDScope scope = new NDScope(); NDManager m = model.manager().newSubManager()) {
            long[][] input = {Arrays.stream(ids).asLongStream().toArray()};
            NDArray logits = model.forward(m.create(input), null, cache);
            return logits.get(":, -1, :").toFloatArray();
        }
    }

    private static int firstStop(String text, SamplingParams p) {
        int first = -1;
        for (String s : p.stop()) {
            int at = text.indexOf(s);
            if (at >= 0 && (first < 0 || at < first)) {
                first = at;
            }
        }
        return first;
    }

    private static String settledPrefix(String text, SamplingParams p) {
        int end = text.endsWith("\uFFFD") ? text.length() - 1 : text.length();
        int holdBack = 0;
        for (String s : p.stop()) {
            for (int k = Math.min(s.length() - 1, end); k > holdBack; k--) {
                if (text.startsWith(s.substring(0, k), end - k)) {
                    holdBack = k;
                    break;
                }
            }
        }
        return text.substring(0, end - holdBack);
    }

    private static void emit(Consumer<String> onText, String text, String emitted) {
        if (onText != null && text.length() > emitted.length() && text.startsWith(emitted)) {
            onText.accept(text.substring(emitted.length()));
        }
    }
}
