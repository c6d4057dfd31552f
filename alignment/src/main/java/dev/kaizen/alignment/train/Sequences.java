package dev.kaizen.alignment.train;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import dev.kaizen.alignment.data.Row;
import dev.kaizen.alignment.score.CompletionBatch;
import dev.kaizen.alignment.score.PaddedBatch;
import dev.kaizen.alignment.score.Scorer;
import dev.kaizen.alignment.score.SharedPromptBatch;
import dev.kaizen.alignment.tokenize.ChatTokenizer;

/**
 * Rows as token sequences: the prompt through the chat template, then a completion, cut to the
 * maximum length. Public so a benchmark counts the tokens a trainer actually sees.
 */
public final class Sequences {

    /** A preference row's two answers to one prompt, and its optional margin. */
    record Pair(Scorer.Sequence chosen, Scorer.Sequence rejected, Double margin) {}

    private final ChatTokenizer tokenizer;
    private final int maxLength;

    public Sequences(ChatTokenizer tokenizer, int maxLength) {
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
    }

    public int[] prompt(Row row) {
        return tokenizer.encodePrompt(row.prompt());
    }

    public int[] completion(String text) {
        return tokenizer.encodeCompletion(text);
    }

    /** The completion a row offers to imitate or judge: an SFT or unpaired row's own, a preference's chosen one. */
    static String completion(Row row, String objective) {
        if (row instanceof Row.Sft s) {
            return s.completion();
        }
        if (row instanceof Row.Unpaired u) {
            return u.completion();
        }
        if (row instanceof Row.Preference p) {
            return p.chosen();
        }
        throw new IllegalArgumentException(objective + " trains on completions; a prompt alone is PPO's");
    }

    /** A preference row as its chosen and rejected sequences; other rows are refused, naming the objective. */
    Pair pair(Row row, String objective) {
        if (!(row instanceof Row.Preference p)) {
            throw new IllegalArgumentException(objective + " trains on preference rows (chosen and rejected), not "
                    + row.getClass().getSimpleName());
        }
        int[] prompt = prompt(row);
        return new Pair(of(prompt, completion(p.chosen())), of(prompt, completion(p.rejected())), p.margin());
    }

    /** The chosen sequences of {@code pairs}, then their rejected ones, in one padded batch: rows i and n+i are a pair. */
    static PaddedBatch chosenThenRejected(List<Pair> pairs) {
        List<Scorer.Sequence> seqs = new ArrayList<>();
        pairs.forEach(p -> seqs.add(p.chosen()));
        pairs.forEach(p -> seqs.add(p.rejected()));
        return PaddedBatch.of(seqs);
    }

    /** The chosen and rejected sequences scored as {@link #chosenThenRejected} orders them: in rows that share each pair's prompt where that pays. */
    static CompletionBatch scoredChosenThenRejected(List<Pair> pairs) {
        SharedPromptBatch shared = SharedPromptBatch.of(pairs.stream().map(Pair::chosen).toList(), pairs.stream().map(Pair::rejected).toList());
        return shared != null ? shared : chosenThenRejected(pairs);
    }

    /** Prompt then completion, cut to max length: the completion keeps its start, the prompt its end. */
    public Scorer.Sequence of(int[] prompt, int[] completion) {
        int[] c = completion.length > maxLength - 1 ? Arrays.copyOf(completion, maxLength - 1) : completion;
        int[] p = prompt.length + c.length > maxLength
                ? Arrays.copyOfRange(prompt, prompt.length - (maxLength - c.length), prompt.length) : prompt;
        int[] ids = Arrays.copyOf(p, p.length + c.length);
        System.arraycopy(c, 0, ids, p.length, c.length);
        return new Scorer.Sequence(ids, Math.max(1, p.length));
    }
}
