package dev.kaizen.operators.settle;

import java.time.Instant;
import java.util.List;
import java.util.Map;

import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.Vote;

/**
 * A vote as a {@link Ballot} keeps it: the event's fields less its response id (the ballot's key),
 * as a Flink POJO. Kept as the Avro record, every ballot read and write went through Avro's
 * reflective reader, the settle stage's largest cost.
 */
public class PendingVote {

    public String eventId;
    public String userId;
    public String modelId;
    public long eventTime;
    public Vote vote;
    /** The text a vote carries itself, or null to join it from the answer. */
    public List<ChatMessage> prompt;
    public String completion;
    public Map<String, String> attributes;

    public PendingVote() {}

    static PendingVote of(FeedbackEvent e) {
        PendingVote v = new PendingVote();
        v.eventId = e.getEventId();
        v.userId = e.getUserId();
        v.modelId = e.getModelId();
        v.eventTime = e.getEventTime().toEpochMilli();
        v.vote = e.getVote();
        v.prompt = e.getPrompt();
        v.completion = e.getCompletion();
        v.attributes = e.getAttributes();
        return v;
    }

    /** The event as it arrived, for a dead letter that can be replayed. */
    FeedbackEvent toFeedbackEvent(String responseId) {
        return FeedbackEvent.newBuilder().setEventId(eventId).setResponseId(responseId).setUserId(userId).setModelId(modelId)
                .setVote(vote).setEventTime(Instant.ofEpochMilli(eventTime)).setPrompt(prompt).setCompletion(completion)
                .setAttributes(attributes).build();
    }
}
