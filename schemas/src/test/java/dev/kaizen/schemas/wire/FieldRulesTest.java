package dev.kaizen.schemas.wire;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;

/** Each limit of the field rules holds at its edge: the last value inside is taken, the first outside refused. */
class FieldRulesTest {

    private static final Instant LATEST = Samples.NOW.plus(FieldRules.MAX_FUTURE_SKEW);

    @Test
    void idsMayBeExactlyTheLongestLength() {
        assertThat(FieldRules.id("user_id", "u".repeat(FieldRules.MAX_ID_LENGTH))).isEmpty();
        assertThat(code(FieldRules.id("user_id", "u".repeat(FieldRules.MAX_ID_LENGTH + 1)))).isEqualTo("field-too-long");
        assertThat(FieldRules.id("user_id", "u".repeat(FieldRules.MAX_ID_LENGTH + 1)).map(Rejection::field)).hasValue("user_id");
    }

    @Test
    void aVoteMayCarryExactlyTheMostAttributes() {
        assertThat(FieldRules.feedback(Samples.feedback().setAttributes(attributes(FieldRules.MAX_ATTRIBUTES)).build(), LATEST)).isEmpty();
        Optional<Rejection> over = FieldRules.feedback(Samples.feedback().setAttributes(attributes(FieldRules.MAX_ATTRIBUTES + 1)).build(), LATEST);
        assertThat(over.map(Rejection::message)).hasValue("attributes has 65 entries, over 64");
    }

    @Test
    void timesAreTakenUpToTheLatestAllowedAndFromTheEarliest() {
        assertThat(FieldRules.feedback(Samples.feedback().setEventTime(LATEST).build(), LATEST)).isEmpty();
        assertThat(FieldRules.feedback(Samples.feedback().setEventTime(FieldRules.EARLIEST).build(), LATEST)).isEmpty();
        assertThat(code(FieldRules.feedback(Samples.feedback().setEventTime(LATEST.plusMillis(1)).build(), LATEST)))
                .isEqualTo("time-out-of-range");
    }

    /** Version 1 is the first an update may carry; its parent is any older version, 0 (the base) included. */
    @Test
    void anUpdatesVersionStartsAtOneAndItsParentIsOlder() {
        assertThat(FieldRules.update(Samples.update().setVersion(1).setParentVersion(0).build(), LATEST)).isEmpty();
        assertThat(FieldRules.update(Samples.update().setVersion(5).setParentVersion(4).build(), LATEST)).isEmpty();
        assertThat(FieldRules.update(Samples.update().setVersion(5).setParentVersion(5).build(), LATEST).map(Rejection::message))
                .hasValue("parent_version is 5; it must be in [0, version)");
        assertThat(FieldRules.update(Samples.update().setVersion(5).setParentVersion(-1).build(), LATEST).map(Rejection::message))
                .hasValue("parent_version is -1; it must be in [0, version)");
        assertThat(FieldRules.update(Samples.update().setVersion(0).setParentVersion(0).build(), LATEST).map(Rejection::message))
                .hasValue("version is 0; versions start at 1");
    }

    @Test
    void anUpdateNamesEveryFileByItsDigestAndCountsNoNegativeFeedback() {
        assertThat(FieldRules.update(Samples.update().setFeedbackCount(0).build(), LATEST)).isEmpty();
        assertThat(FieldRules.update(Samples.update().setFeedbackCount(-1).build(), LATEST).map(Rejection::message))
                .hasValue("feedback_count is negative");
        assertThat(FieldRules.update(Samples.update().setFiles(Map.of("adapter_model.safetensors", "XYZ")).build(), LATEST)
                .map(Rejection::message)).hasValue("files[adapter_model.safetensors] is not 64 lowercase hex digits");
        assertThat(FieldRules.update(Samples.update().setFiles(Map.of(" ", Samples.SHA)).build(), LATEST).map(Rejection::message))
                .hasValue("files has a file with an empty name");
    }

    /** A rollback's version is one a model had; the restored version is an older one than the rollback's parent or that parent. */
    @Test
    void aRollbackNamesAVersionAndItsRecordTheOneItRestores() {
        assertThat(FieldRules.command(Samples.command().build(), LATEST)).isEmpty();
        assertThat(FieldRules.command(Samples.command().setReason(null).build(), LATEST)).isEmpty();
        assertThat(FieldRules.command(Samples.command().setToVersion(1).setReason("x".repeat(1000)).build(), LATEST)).isEmpty();
        assertThat(FieldRules.command(Samples.command().setToVersion(0).build(), LATEST).map(Rejection::message))
                .hasValue("to_version is 0; versions start at 1");
        assertThat(FieldRules.command(Samples.command().setIssuedBy("").build(), LATEST).map(Rejection::message))
                .hasValue("issued_by is empty");
        assertThat(FieldRules.command(Samples.command().setReason("x".repeat(1001)).build(), LATEST).map(Rejection::message))
                .hasValue("reason is 1001 characters, over 1000");
        assertThat(code(FieldRules.command(Samples.command().setIssuedAt(LATEST.plusSeconds(1)).build(), LATEST)))
                .isEqualTo("time-out-of-range");
        assertThat(FieldRules.update(Samples.update().setRestoresVersion(3L).build(), LATEST)).isEmpty();
        assertThat(FieldRules.update(Samples.update().setRestoresVersion(1L).build(), LATEST)).isEmpty();
        assertThat(FieldRules.update(Samples.update().setRestoresVersion(4L).build(), LATEST).map(Rejection::message))
                .hasValue("restores_version is 4; it must be in [1, parent_version]");
        assertThat(FieldRules.update(Samples.update().setRestoresVersion(0L).build(), LATEST).map(Rejection::message))
                .hasValue("restores_version is 0; it must be in [1, parent_version]");
    }

    @Test
    void aDeadLetterNamesItsTopicAndReasonAndATimeInRange() {
        assertThat(FieldRules.deadLetter(Samples.deadLetter().build(), LATEST)).isEmpty();
        assertThat(FieldRules.deadLetter(Samples.deadLetter().setSourceTopic("").build(), LATEST).map(Rejection::message))
                .hasValue("source_topic is empty");
        assertThat(FieldRules.deadLetter(Samples.deadLetter().setReason(" ").build(), LATEST).map(Rejection::message))
                .hasValue("reason is empty");
        assertThat(code(FieldRules.deadLetter(Samples.deadLetter().setTime(LATEST.plusSeconds(1)).build(), LATEST)))
                .isEqualTo("time-out-of-range");
    }

    private static String code(Optional<Rejection> rejection) {
        assertThat(rejection).isPresent();
        return rejection.get().code();
    }

    private static Map<String, String> attributes(int count) {
        Map<String, String> attributes = new HashMap<>();
        for (int i = 0; i < count; i++) {
            attributes.put("k" + i, "v");
        }
        return attributes;
    }
}
