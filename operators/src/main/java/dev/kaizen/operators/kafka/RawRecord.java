package dev.kaizen.operators.kafka;

/**
 * A Kafka record as it arrived, before any decoding: where it came from and its value's bytes.
 * Carrying the bytes this far is what lets a bad record reach the dead-letter topic intact.
 */
public record RawRecord(String topic, int partition, long offset, long timestamp, byte[] value) {}
