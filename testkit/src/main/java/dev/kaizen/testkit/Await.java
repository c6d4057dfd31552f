package dev.kaizen.testkit;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Polls a condition every 100 ms until it holds, failing with {@code what} once {@code within} has passed. */
public final class Await {

    private Await() {}

    /** {@code what} is read only on failure, so it may describe the state at that moment (a log, a count). */
    public static void until(BooleanSupplier condition, Duration within, Supplier<String> what) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() >= deadline) {
                throw new AssertionError("not within " + within + ": " + what.get());
            }
            Thread.sleep(100);
        }
    }
}
