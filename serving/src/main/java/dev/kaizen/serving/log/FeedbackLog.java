package dev.kaizen.serving.log;

import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.wire.WireCodec;
import dev.kaizen.serving.follow.KafkaClients;

/**
 * Writes what serving sees to the job's input topics: each answer as a ResponseLogged, each vote
 * as a FeedbackEvent, keyed by response id. A write returns once the broker has it (acks=all,
 * idempotent), so an answer is only handed out once a vote on it can be joined. While Kafka is
 * away (or the topics are missing) writes fail at once with {@link Unavailable}.
 */
public final class FeedbackLog implements AutoCloseable {

    /** Kafka cannot take writes now; the message says why. */
    public static final class Unavailable extends RuntimeException {
        Unavailable(String message) {
            super(message);
        }
    }

    private final KafkaProducer<byte[], byte[]> producer;
    private final BrokerWatch watch;
    private final String responsesTopic;
    private final String feedbackTopic;
    private final WireCodec<ResponseLogged> responses = WireCodec.responses(Clock.systemUTC());
    private final WireCodec<FeedbackEvent> votes = WireCodec.feedbackEvents(Clock.systemUTC());

    public FeedbackLog(KafkaClients kafka, String responsesTopic, String feedbackTopic) {
        // A send blocks at most 5 s for metadata (60 s by default): a broker that went away between two looks is noticed quickly.
        this.producer = new KafkaProducer<>(kafka.config(Map.of(ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                ProducerConfig.LINGER_MS_CONFIG, 0, ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 15_000,
                ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000, ProducerConfig.MAX_BLOCK_MS_CONFIG, 5_000)),
                new ByteArraySerializer(), new ByteArraySerializer());
        this.watch = new BrokerWatch(kafka, List.of(responsesTopic, feedbackTopic));
        this.responsesTopic = responsesTopic;
        this.feedbackTopic = feedbackTopic;
    }

    /** Whether writes can go ahead now, and if not, why. */
    public BrokerWatch.State state() {
        return watch.state();
    }

    /** Refuses at once while Kafka cannot take writes, so a request does no work whose result could not be logged. */
    public void requireWritable() {
        BrokerWatch.State state = watch.state();
        if (!state.writable()) {
            throw new Unavailable(state.problem());
        }
    }

    public void answer(ResponseLogged response) {
        write(responsesTopic, response.getResponseId(), responses.encode(response));
    }

    public void vote(FeedbackEvent event) {
        write(feedbackTopic, event.getResponseId(), votes.encode(event));
    }

    private void write(String topic, String key, byte[] value) {
        requireWritable();
        try {
            producer.send(new ProducerRecord<>(topic, key.getBytes(java.nio.charset.StandardCharsets.UTF_8), value)).get(20, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Unavailable("interrupted while writing to " + topic);
        } catch (ExecutionException | TimeoutException | KafkaException e) {
            Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            // Only what the broker's absence causes refuses the next writes too; a bad record is this request's own failure.
            if (!(cause instanceof TimeoutException || cause instanceof RetriableException)) {
                throw new IllegalStateException("could not write to " + topic, cause);
            }
            String problem = "could not write to " + topic + " at Kafka";
            watch.writeFailed(problem);
            throw new Unavailable(problem);
        }
    }

    @Override
    public void close() {
        watch.close();
        producer.close();
    }
}
