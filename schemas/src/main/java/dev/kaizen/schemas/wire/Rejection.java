package dev.kaizen.schemas.wire;

import java.time.Instant;

/**
 * Why some bytes are not a usable record: the dead-letter reasons of the validate stage, and what
 * serving answers a client whose record it cannot accept.
 */
public sealed interface Rejection extends DeadLetterReason {

    /** The field at fault, as the record names it; null when the bytes as a whole are at fault. */
    default String field() {
        return null;
    }

    record Empty() implements Rejection {
        public String code() { return "empty"; }
        public String message() { return "the message has no bytes"; }
    }

    record TooLarge(int size, int max) implements Rejection {
        public String code() { return "too-large"; }
        public String message() { return "the message has " + size + " bytes, over the limit of " + max; }
    }

    record BadHeader(String detail) implements Rejection {
        public String code() { return "bad-header"; }
        public String message() {
            return "not Avro single-object encoding (expected marker 0xC3 0x01 and an 8-byte schema fingerprint): " + detail;
        }
    }

    record UnknownSchema(String record, String fingerprint) implements Rejection {
        public String code() { return "unknown-schema"; }
        public String message() {
            return "schema fingerprint " + fingerprint + " is not a released " + record
                    + " schema; the writer uses a schema this reader was not built with";
        }
    }

    record Truncated(String detail) implements Rejection {
        public String code() { return "truncated"; }
        public String message() { return "the message ends before the record does: " + detail; }
    }

    record TrailingBytes(int count) implements Rejection {
        public String code() { return "trailing-bytes"; }
        public String message() { return count + " bytes follow the end of the record"; }
    }

    record LengthOverLimit(String detail) implements Rejection {
        public String code() { return "length-over-limit"; }
        public String message() { return "a string, bytes or collection length is over the limit: " + detail; }
    }

    record UnknownEnumSymbol(String detail) implements Rejection {
        public String code() { return "unknown-enum-symbol"; }
        public String message() { return "an enum value this reader does not know: " + detail; }
    }

    record Malformed(String detail) implements Rejection {
        public String code() { return "malformed"; }
        public String message() { return "the body is not a valid Avro record: " + detail; }
    }

    record MissingField(String field) implements Rejection {
        public String code() { return "missing-field"; }
        public String message() { return field + " is empty"; }
    }

    record FieldTooLong(String field, int length, int max) implements Rejection {
        public String code() { return "field-too-long"; }
        public String message() { return field + " has " + length + " characters, over the limit of " + max; }
    }

    record InvalidCharacters(String field) implements Rejection {
        public String code() { return "invalid-characters"; }
        public String message() {
            return field + " holds whitespace, control characters or invalid UTF-8; ids are printable and unspaced";
        }
    }

    record TimeOutOfRange(String field, Instant value, Instant earliest, Instant latest) implements Rejection {
        public String code() { return "time-out-of-range"; }
        public String message() { return field + " is " + value + ", outside [" + earliest + ", " + latest + "]"; }
    }

    record InvalidValue(String field, String detail) implements Rejection {
        public String code() { return "invalid-value"; }
        public String message() { return field + " " + detail; }
    }
}
