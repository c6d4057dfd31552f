package dev.kaizen.schemas.wire;

/** The outcome of reading bytes off a topic: a record that passed every rule, or why not. */
public sealed interface Decoded<T> {

    record Valid<T>(T value) implements Decoded<T> {}

    record Invalid<T>(Rejection rejection) implements Decoded<T> {}
}
