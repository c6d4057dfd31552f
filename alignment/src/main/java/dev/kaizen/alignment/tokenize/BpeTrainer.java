package dev.kaizen.alignment.tokenize;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Learns a byte-level BPE vocabulary (GPT-2's byte alphabet and pre-tokenizer regex, as
 * SmolLM2 and Qwen2 use) from a corpus, so presets and tests get a real tokenizer without a hub.
 */
public final class BpeTrainer {

    /** GPT-2's pre-tokenizer split, the one Hugging Face's ByteLevel pre-tokenizer applies. */
    static final Pattern PRE_TOKENIZER =
            Pattern.compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    /** The learned vocabulary (special tokens first, then the 256 bytes, then merges) and merges in order. */
    public record Vocabulary(Map<String, Integer> vocab, List<String[]> merges, List<String> specialTokens) {}

    private BpeTrainer() {}

    public static Vocabulary train(List<String> corpus, int vocabSize, List<String> specialTokens) {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        specialTokens.forEach(t -> vocab.put(t, vocab.size()));
        String[] byteSymbols = byteAlphabet();
        for (String s : byteSymbols) {
            vocab.put(s, vocab.size());
        }
        Map<List<String>, Integer> words = new HashMap<>();
        for (String text : corpus) {
            Matcher m = PRE_TOKENIZER.matcher(text);
            while (m.find()) {
                List<String> symbols = new ArrayList<>();
                for (byte b : m.group().getBytes(StandardCharsets.UTF_8)) {
                    symbols.add(byteSymbols[b & 0xFF]);
                }
                words.merge(symbols, 1, Integer::sum);
            }
        }
        List<String[]> merges = new ArrayList<>();
        while (vocab.size() < vocabSize) {
            String[] best = mostFrequentPair(words);
            if (best == null) {
                break;
            }
            merges.add(best);
            vocab.putIfAbsent(best[0] + best[1], vocab.size());
            words = merge(words, best);
        }
        return new Vocabulary(vocab, merges, specialTokens);
    }

    /** The pair seen most often (at least twice); ties go to the lexicographically smallest, for determinism. */
    private static String[] mostFrequentPair(Map<List<String>, Integer> words) {
        Map<String, Integer> counts = new HashMap<>();
        words.forEach((symbols, n) -> {
            for (int i = 0; i + 1 < symbols.size(); i++) {
                counts.merge(symbols.get(i) + "\u0000" + symbols.get(i + 1), n, Integer::sum);
            }
        });
        String best = null;
        int bestCount = 1;
        for (var e : counts.entrySet()) {
            if (e.getValue() > bestCount || (e.getValue() == bestCount && best != null && e.getKey().compareTo(best) < 0)) {
                best = e.getKey();
                bestCount = e.getValue();
            }
        }
        return best == null ? null : best.split("\u0000", 2);
    }

    private static Map<List<String>, Integer> merge(Map<List<String>, Integer> words, String[] pair) {
        Map<List<String>, Integer> merged = new HashMap<>();
        words.forEach((symbols, n) -> {
            List<String> out = new ArrayList<>(symbols.size());
            for (int i = 0; i < symbols.size(); i++) {
                if (i + 1 < symbols.size() && symbols.get(i).equals(pair[0]) && symbols.get(i + 1).equals(pair[1])) {
                    out.add(pair[0] + pair[1]);
                    i++;
                } else {
                    out.add(symbols.get(i));
                }
            }
            merged.merge(out, n, Integer::sum);
        });
        return merged;
    }

    /** GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest map above U+0100. */
    static String[] byteAlphabet() {
        String[] symbols = new String[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            symbols[b] = String.valueOf((char) (printable ? b : next++));
        }
        return symbols;
    }
}
