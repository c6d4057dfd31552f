package dev.kaizen.serving.log;

import java.time.Clock;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.serving.follow.KafkaClients;

/**
 * Writes what serving sees to the job's input topics: each answer as a ResponseLogged, each vote
 * as a FeedbackEvent, keyed by response id. A write returns once the broker has it (acks=all,
 * idempotent), so an answer is only handed out once a vote on it can be joined.
 */
public final class FeedbackLog implements AutoCloseable {

    private final KafkaProducer<byte[], byte[]> producer;
    private final String responsesTopic;
    private final String feedbackTopic;
    private final WireCodec<ResponseLogged> responses = WireCodec.responses(Clock.systemUTC());
    private final WireCodec<FeedbackEvent> votes = WireCodec.feedbackEvents(Clock.systemUTC());

    public FeedbackLog(KafkaClients kafka, String responsesTopic, String feedbackTopic) {
        this.producer = new KafkaProducer<>(kafka.config(Map.of(ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                ProducerConfig.LINGER_MS_CONFIG, 0, ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30_000,
                ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000)), new ByteArraySerializer(), new ByteArraySerializer());
        this.responsesTopic = responsesTopic;
        this.feedbackTopic = feedbackTopic;
    }

    public void answer(ResponseLogged response) {
        write(responsesTopic, response.getResponseId(), responses.encode(response));
    }

    public void vote(FeedbackEvent event) {
        write(feedbackTopic, event.getResponseId(), votes.encode(event));
    }

    private void write(String topic, String key, byte[] value) {
        try {
            producer.send(new ProducerRecord<>(topic, key.getBytes(java.nio.charset.StandardCharsets.UTF_8), value)).get(40, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while writing to " + topic, e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("could not write to " + topic + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        producer.close();
    }
}
