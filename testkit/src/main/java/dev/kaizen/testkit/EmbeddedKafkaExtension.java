package dev.kaizen.testkit;

import dev.kaizen.embeddedkafka.EmbeddedKafka;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * An {@link EmbeddedKafka} broker for tests. Registered on a static field
 * ({@code @RegisterExtension static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();})
 * one broker serves all tests of the class; on an instance field, each test gets a fresh one, for
 * tests that leave a broker in a state the next should not inherit (open transactions of a lost TaskManager).
 */
public final class EmbeddedKafkaExtension implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback {

    private EmbeddedKafka kafka;
    private boolean perTest;

    @Override
    public void beforeAll(ExtensionContext context) {
        kafka = EmbeddedKafka.start();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        kafka.close();
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        if (kafka == null) {
            perTest = true;
            kafka = EmbeddedKafka.start();
        }
    }

    @Override
    public void afterEach(ExtensionContext context) {
        if (perTest) {
            kafka.close();
            kafka = null;
        }
    }

    /** The running broker; valid during the tests it was registered for. */
    public EmbeddedKafka kafka() {
        if (kafka == null) {
            throw new IllegalStateException("the broker runs only while the tests it was registered for do");
        }
        return kafka;
    }
}
