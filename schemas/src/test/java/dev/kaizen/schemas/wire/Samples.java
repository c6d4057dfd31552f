package dev.kaizen.schemas.wire;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;

import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.CheckpointFormat;
import dev.kaizen.schemas.DeadLetter;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ModelAction;
import dev.kaizen.schemas.ModelCommand;
import dev.kaizen.schemas.ModelRelease;
import dev.kaizen.schemas.ReleaseDecision;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.Vote;

/** One valid record of each type, at a fixed time, for tests to copy and break. */
final class Samples {

    static final Instant NOW = Instant.parse("2026-11-24T12:00:00Z");
    static final String SHA = "a".repeat(64);

    private Samples() {}

    static List<ChatMessage> prompt() {
        return List.of(new ChatMessage("system", "Answer briefly."), new ChatMessage("user", "What is Kafka?"));
    }

    static FeedbackEvent.Builder feedback() {
        return FeedbackEvent.newBuilder()
                .setEventId("evt-1").setResponseId("resp-1").setUserId("user-1").setModelId("tiny-chat")
                .setVote(Vote.UP).setEventTime(NOW.minusSeconds(5))
                .setPrompt(null).setCompletion(null).setAttributes(null);
    }

    static FeedbackEvent.Builder feedbackWithText() {
        return feedback().setPrompt(prompt()).setCompletion("A distributed log.")
                .setAttributes(Map.of("app", "web-1.2", "locale", "en-GB"));
    }

    static ResponseLogged.Builder response() {
        return ResponseLogged.newBuilder()
                .setResponseId("resp-1").setModelId("tiny-chat").setModelVersion(3)
                .setPrompt(prompt()).setCompletion("A distributed log.").setCreatedAt(NOW.minusSeconds(60));
    }

    static ModelUpdate.Builder update() {
        return ModelUpdate.newBuilder()
                .setModelId("tiny-chat").setVersion(4).setParentVersion(3).setFormat(CheckpointFormat.ADAPTER)
                .setUri("file:///var/kaizen/checkpoints/tiny-chat/" + SHA).setSha256(SHA)
                .setFiles(Map.of("adapter_config.json", "b".repeat(64), "adapter_model.safetensors", "c".repeat(64)))
                .setCreatedAt(NOW).setFeedbackCount(64)
                .setMetrics(Map.of("loss", 0.49, "kl", 0.01, "rewards/chosen", 0.12))
                .setBaseModel("HuggingFaceTB/SmolLM2-135M-Instruct").setRejectionReason(null);
    }

    static ModelCommand.Builder command() {
        return ModelCommand.newBuilder()
                .setCommandId("9b2c8e0e-4a51-4a7e-9d1e-0f3c2b7a6d10").setModelId("tiny-chat").setAction(ModelAction.ROLLBACK)
                .setToVersion(2).setIssuedAt(NOW).setIssuedBy("ops@host-1").setReason("version 4 answers at length");
    }

    static ModelRelease.Builder release() {
        return ModelRelease.newBuilder()
                .setModelId("tiny-chat").setVersion(4).setDecision(ReleaseDecision.ROLLBACK).setPromotedVersion(3)
                .setCandidateVotes(212).setCandidateUp(120).setPromotedVotes(1904).setPromotedUp(1330).setDecidedAt(NOW)
                .setReason("canary: 56.6% up on 212 votes against 69.9% on 1904, worse at look 1 of 21");
    }

    /** Bytes of a FeedbackEvent written with another version of its schema, carrying only the required fields. */
    static byte[] feedbackWrittenWith(Schema writer, String vote) {
        GenericRecord event = new GenericData.Record(writer);
        event.put("event_id", "evt-9");
        event.put("response_id", "resp-9");
        event.put("user_id", "user-9");
        event.put("model_id", "tiny-chat");
        event.put("vote", new GenericData.EnumSymbol(writer.getField("vote").schema(), vote));
        event.put("event_time", NOW.toEpochMilli());
        try {
            ByteBuffer buffer = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), writer).encode(event);
            return Arrays.copyOfRange(buffer.array(), buffer.arrayOffset() + buffer.position(), buffer.arrayOffset() + buffer.limit());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static DeadLetter.Builder deadLetter() {
        return DeadLetter.newBuilder()
                .setSourceTopic("chat-feedback").setPartition(0).setOffset(42L)
                .setReason("truncated").setDetail("the message ends before the record does")
                .setOriginal(ByteBuffer.wrap(new byte[] {(byte) 0xC3, 0x01, 7})).setTime(NOW);
    }
}
