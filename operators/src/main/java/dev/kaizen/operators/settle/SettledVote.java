package dev.kaizen.operators.settle;

import java.util.List;

import dev.kaizen.schemas.ChatMessage;

/**
 * A user's final verdict on one answer, with the answer's text: one KTO sample. The event id is
 * that of the vote that won, so every count downstream can be traced to one input.
 */
public record SettledVote(String modelId, String responseId, String userId, String eventId, long eventTime,
                          boolean desirable, List<ChatMessage> prompt, String completion) {}
