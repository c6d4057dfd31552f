package dev.kaizen.schemas.wire;

import java.util.Map;

/** Kaizen's topics, what each carries, and the topic configs it is created with. */
public enum Topic {
    CHAT_RESPONSES("chat-responses", "ResponseLogged", Map.of()),
    CHAT_FEEDBACK("chat-feedback", "FeedbackEvent", Map.of()),
    CHAT_FEEDBACK_DLQ("chat-feedback-dlq", "DeadLetter",
            Map.of("retention.ms", Long.toString(30L * 24 * 3600 * 1000),
                    "max.message.bytes", Integer.toString(WireCodec.MAX_DEAD_LETTER_BYTES + 1024))),
    CHAT_FEEDBACK_LATE("chat-feedback-late", "FeedbackEvent", Map.of()),
    // Serving rebuilds a model's lineage from this topic on start, so nothing ages out.
    MODEL_UPDATES("model-updates", "ModelUpdate", Map.of("retention.ms", "-1", "retention.bytes", "-1")),
    MODEL_REJECTIONS("model-rejections", "ModelUpdate", Map.of("retention.ms", "-1", "retention.bytes", "-1")),
    // Operators' commands to the job (rollbacks), kept as the audit trail of who asked for what.
    MODEL_COMMANDS("model-commands", "ModelCommand", Map.of("retention.ms", "-1", "retention.bytes", "-1")),
    // The canary verdicts: serving rebuilds which release is promoted from this topic on start.
    MODEL_RELEASES("model-releases", "ModelRelease", Map.of("retention.ms", "-1", "retention.bytes", "-1"));

    private final String topicName;
    private final String record;
    private final Map<String, String> configs;

    Topic(String topicName, String record, Map<String, String> configs) {
        this.topicName = topicName;
        this.record = record;
        this.configs = configs;
    }

    public String topicName() {
        return topicName;
    }

    /** Simple name of the Avro record every message on the topic holds. */
    public String record() {
        return record;
    }

    public Map<String, String> configs() {
        return configs;
    }
}
