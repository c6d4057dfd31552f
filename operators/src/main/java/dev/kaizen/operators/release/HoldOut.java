package dev.kaizen.operators.release;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Which settled samples are held out for evaluation and never train: those whose response id
 * hashes (SHA-256, its first 8 bytes as a fraction of 2^64) below the configured fraction. The
 * same on every run, replay and rescale, and the same for every vote on one answer.
 */
public final class HoldOut {

    private HoldOut() {}

    public static boolean isHeldOut(String responseId, double fraction) {
        if (fraction <= 0) {
            return false;
        }
        return unitHash(responseId) < fraction;
    }

    /** The response id's place in [0, 1). */
    static double unitHash(String responseId) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(responseId.getBytes(StandardCharsets.UTF_8));
            // The top 53 bits, as a double in [0, 1) exactly.
            return (ByteBuffer.wrap(digest).getLong() >>> 11) * 0x1.0p-53;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }
}
