package dev.kaizen.clients;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.Decoded;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.testkit.EmbeddedKafkaExtension;

/** The README's examples, run as it shows them: each writes one answer and an up-vote on it for model "example". */
class ExamplesTest {

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @Test
    void eachExampleWritesOneAnswerAndAnUpVoteOnIt() throws Exception {
        KAFKA.kafka().createTopics(2, "chat-responses", "chat-feedback");
        List<List<String>> commands = List.of(List.of(Client.PYTHON.interpreter(), "python/example.py"), List.of("node", "typescript/example.js"));
        for (int i = 0; i < commands.size(); i++) {
            List<String> command = new ArrayList<>(commands.get(i));
            command.addAll(List.of("--bootstrap-servers", KAFKA.kafka().bootstrapServers()));
            Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String responseId = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            assertThat(process.waitFor(1, TimeUnit.MINUTES) && process.exitValue() == 0).as(String.join(" ", command)).isTrue();

            // Two partitions: read back in no particular order.
            assertThat(read("chat-responses", WireCodec.responses(Clock.systemUTC()), i + 1)).as(command.get(1))
                    .filteredOn(a -> a.getResponseId().equals(responseId)).singleElement()
                    .satisfies(a -> assertThat(a.getModelId()).isEqualTo("example"));
            assertThat(read("chat-feedback", WireCodec.feedbackEvents(Clock.systemUTC()), i + 1))
                    .filteredOn(v -> v.getResponseId().equals(responseId)).singleElement()
                    .satisfies(v -> assertThat(v.getVote()).isEqualTo(Vote.UP));
        }
    }

    @SuppressWarnings("unchecked")
    private static <T> List<T> read(String topic, WireCodec<T> codec, int expected) {
        return KAFKA.kafka().readCommitted(topic, expected, Duration.ZERO, Duration.ofSeconds(30)).stream()
                .map(b -> ((Decoded.Valid<T>) codec.decode(b)).value()).toList();
    }
}
