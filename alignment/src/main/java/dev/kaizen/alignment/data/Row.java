package dev.kaizen.alignment.data;

import dev.kaizen.alignment.tokenize.Prompt;

/** One training example, in the shape each method learns from. */
public sealed interface Row {

    Prompt prompt();

    /** SFT: a prompt and the completion to imitate. */
    record Sft(Prompt prompt, String completion) implements Row {}

    /** Reward modelling and DPO: a prompt with a preferred and a dispreferred completion (margin optional). */
    record Preference(Prompt prompt, String chosen, String rejected, Double margin) implements Row {}

    /** KTO: one completion labelled desirable or not. */
    record Unpaired(Prompt prompt, String completion, boolean desirable) implements Row {}

    /** PPO: a prompt the policy answers itself. */
    record PromptOnly(Prompt prompt) implements Row {}
}
