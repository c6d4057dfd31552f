package dev.kaizen.operators.deadletter;

import java.io.Serializable;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.time.Instant;

import org.apache.flink.util.OutputTag;

import dev.kaizen.operators.kafka.SourceRecord;
import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ModelCommand;
import dev.kaizen.schemas.OriginalForm;
import dev.kaizen.schemas.wire.DeadLetterReason;
import dev.kaizen.schemas.wire.WireCodec;

/**
 * The one way any stage dead-letters a record: the side output every stage writes to, and the
 * DeadLetter records, which name the configured feedback topic as the source of a settled vote,
 * and the configured commands topic as that of a command the update stage could not carry out.
 */
public final class DeadLetters implements Serializable {

    /** Dead letters of every stage leave through this side output. */
    public static final OutputTag<DeadLetter> TAG = new OutputTag<>("dead-letters") {};

    private final String feedbackTopic;
    private final String commandsTopic;
    private transient WireCodec<FeedbackEvent> votes;
    private transient WireCodec<ModelCommand> commands;

    /** The topics votes and model commands are read from, as the job is configured. */
    public DeadLetters(String feedbackTopic, String commandsTopic) {
        this.feedbackTopic = feedbackTopic;
        this.commandsTopic = commandsTopic;
    }

    /** A record rejected where it entered the job: its source position, the reason and its bytes as read. */
    public static DeadLetter asRead(SourceRecord<?> record, DeadLetterReason reason, Instant now) {
        return DeadLetter.newBuilder()
                .setSourceTopic(record.topic()).setPartition(record.partition()).setOffset(record.offset())
                .setReason(reason.code()).setDetail(reason.message())
                .setOriginal(ByteBuffer.wrap(record.bytes() == null ? new byte[0] : record.bytes()))
                .setTime(now).build();
    }

    /**
     * A vote rejected after it was deduplicated and settled: it stands for several records, so it
     * has no one source position, and is the settled vote re-encoded (replayable onto the topic).
     */
    public DeadLetter settledVote(FeedbackEvent vote, DeadLetterReason reason, Instant now) {
        if (votes == null) {
            votes = WireCodec.feedbackEvents(Clock.systemUTC());
        }
        return rewritten(feedbackTopic, reason, votes.encode(vote), OriginalForm.SETTLED_VOTE, now);
    }

    /** A valid command the update stage cannot carry out, re-encoded (its source position is not kept past validation). */
    public DeadLetter command(ModelCommand command, DeadLetterReason reason, Instant now) {
        if (commands == null) {
            commands = WireCodec.modelCommands(Clock.systemUTC());
        }
        return rewritten(commandsTopic, reason, commands.encode(command), OriginalForm.MODEL_COMMAND, now);
    }

    /** A record rejected past the validate stage: no one source position, and its bytes written anew. */
    private static DeadLetter rewritten(String topic, DeadLetterReason reason, byte[] original, OriginalForm form, Instant now) {
        return DeadLetter.newBuilder().setSourceTopic(topic).setPartition(null).setOffset(null)
                .setReason(reason.code()).setDetail(reason.message())
                .setOriginal(ByteBuffer.wrap(original)).setOriginalForm(form).setTime(now).build();
    }
}
