package dev.kaizen.operators.settle;

import java.time.Instant;
import java.util.List;

import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.Vote;

/**
 * A user's final verdict on one answer, with the answer's text: one KTO sample. The event id is
 * that of the vote that won, so every count downstream can be traced to one input.
 * {@code modelVersion} is the version that wrote the answer, as serving logged it (null when the
 * vote carried its own text: nobody said which version wrote it), so the canary can tally votes by version.
 * {@code settledAt} is the settling operator's processing time when it became final (ms), so the
 * update stage can tell how long a sample waited to train.
 */
public record SettledVote(String modelId, String responseId, String userId, String eventId, long eventTime,
                          boolean desirable, List<ChatMessage> prompt, String completion, Long modelVersion, long settledAt) {

    /** The vote as a FeedbackEvent carrying its text inline: what a dead letter keeps, so it can be replayed. */
    public FeedbackEvent toFeedbackEvent() {
        return FeedbackEvent.newBuilder().setEventId(eventId).setResponseId(responseId).setUserId(userId).setModelId(modelId)
                .setVote(desirable ? Vote.UP : Vote.DOWN).setEventTime(Instant.ofEpochMilli(eventTime))
                .setPrompt(prompt).setCompletion(completion).setAttributes(null).build();
    }
}
