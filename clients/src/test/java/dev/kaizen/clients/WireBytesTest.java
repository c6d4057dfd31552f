package dev.kaizen.clients;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;

import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;

/** Each client's bytes for fixed records are exactly the Java encoder's: marker, fingerprint and body. */
class WireBytesTest {

    static final Instant AT = Instant.parse("2026-11-30T09:15:42.123Z");

    static final ResponseLogged ANSWER = ResponseLogged.newBuilder().setResponseId("r-1").setModelId("support-bot").setModelVersion(3)
            .setPrompt(List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Où est la gare ? 🚉")))
            .setCompletion("Tout droit, puis à gauche.").setCreatedAt(AT).build();

    static final FeedbackEvent WITH_EVERYTHING = FeedbackEvent.newBuilder().setEventId("e-1").setResponseId("r-1").setUserId("u-42")
            .setModelId("support-bot").setVote(Vote.DOWN).setEventTime(AT.plusMillis(1))
            .setPrompt(List.of(new ChatMessage("user", "Où est la gare ? 🚉"))).setCompletion("Tout droit.")
            .setAttributes(attributes()).build();

    static final FeedbackEvent CLEAR = FeedbackEvent.newBuilder().setEventId("e-2").setResponseId("r-1").setUserId("u-42")
            .setModelId("support-bot").setVote(Vote.CLEAR).setEventTime(AT.plusSeconds(60))
            .setPrompt(null).setCompletion(null).setAttributes(null).build();

    @Test
    void eachClientWritesTheJavaEncodersBytes() throws Exception {
        List<SpecificRecord> records = List.of(ANSWER, WITH_EVERYTHING, CLEAR);
        List<String> java = records.stream().map(WireBytesTest::javaHex).toList();
        List<String> lines = records.stream().map(r -> Client.line(r, null)).toList();
        for (Client client : Client.values()) {
            assertThat(client.run(lines, "encode")).as(client.name()).containsExactlyElementsOf(java);
        }
    }

    /** A released writer schema named by its file (here FeedbackEvent v1, from schemas/history/) is read back as written. */
    @Test
    void aRecordWrittenWithAReleasedSchemaFileDecodes() throws Exception {
        Path v1 = Path.of("..", "schemas", "history", "FeedbackEvent.v1.avsc");
        for (Client client : Client.values()) {
            byte[] bytes = HexFormat.of().parseHex(client.run(List.of(Client.line(WITH_EVERYTHING, v1)), "encode").get(0));
            assertThat(WireCodec.feedbackEvents(Clock.systemUTC()).decode(bytes)).as(client.name())
                    .isEqualTo(new Decoded.Valid<>(WITH_EVERYTHING));
        }
    }

    private static Map<String, String> attributes() {
        Map<String, String> a = new LinkedHashMap<>();
        a.put("app", "web-2.3");
        a.put("locale", "fr-FR");
        return a;
    }

    private static String javaHex(SpecificRecord record) {
        byte[] bytes = record instanceof ResponseLogged r ? WireCodec.responses(Clock.systemUTC()).encode(r)
                : WireCodec.feedbackEvents(Clock.systemUTC()).encode((FeedbackEvent) record);
        return HexFormat.of().formatHex(bytes);
    }
}
