package dev.kaizen.schemas.wire;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.reflect.Constructor;
import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

class DeadLetterReasonTest {

    /** Every record class of the sealed hierarchy, depth first. */
    private static List<Class<?>> reasons(Class<?> type) {
        if (type.isRecord()) {
            return List.of(type);
        }
        List<Class<?>> all = new ArrayList<>();
        for (Class<?> sub : type.getPermittedSubclasses()) {
            all.addAll(reasons(sub));
        }
        return all;
    }

    /** A reason's code, from an instance with every component at its zero value (codes depend on no field). */
    private static String code(Class<?> record) throws Exception {
        RecordComponent[] components = record.getRecordComponents();
        Constructor<?> canonical = record.getDeclaredConstructor(Arrays.stream(components).map(RecordComponent::getType).toArray(Class[]::new));
        Object[] args = Arrays.stream(components).map(c -> c.getType() == int.class ? (Object) 0 : c.getType() == long.class ? (Object) 0L : null).toArray();
        return ((DeadLetterReason) canonical.newInstance(args)).code();
    }

    @Test
    void everyReasonHasItsOwnCodeAndTheReadmeListsExactlyThem() throws Exception {
        List<String> codes = new ArrayList<>();
        for (Class<?> reason : reasons(DeadLetterReason.class)) {
            codes.add(code(reason));
        }
        assertThat(codes).doesNotHaveDuplicates().contains("unknown-response", "user-cap", "bad-header")
                .allMatch(c -> c.matches("[a-z]+(-[a-z]+)*"));

        String readme = Files.readString(Path.of("..", "README.md"));
        Matcher list = Pattern.compile("Every reason on the dead-letter topic[^:]*:((?:\\s*`[a-z-]+`,?)+)").matcher(readme);
        assertThat(list.find()).as("the README lists the dead-letter reasons").isTrue();
        List<String> documented = Pattern.compile("`([a-z-]+)`").matcher(list.group(1)).results().map(m -> m.group(1)).toList();
        assertThat(documented).containsExactlyInAnyOrderElementsOf(codes);
    }

    /** The reasons given after validation name what a person needs to find the vote. */
    @Test
    void reasonsAfterValidationNameTheirVoteAndDescribeThemselvesAsCodeThenMessage() {
        DeadLetterReason unknown = new DeadLetterReason.UnknownResponse("resp-7", Duration.ofMinutes(10));
        assertThat(unknown.describe()).isEqualTo("unknown-response: no answer with response_id resp-7 arrived within PT10M of the vote becoming final");
        DeadLetterReason capped = new DeadLetterReason.UserCap("user-3", "tiny-chat", 20, Instant.parse("2026-11-30T10:00:00Z"));
        assertThat(capped.describe()).isEqualTo("user-cap: user user-3 already gave 20 samples to model tiny-chat in the hour from 2026-11-30T10:00:00Z");
    }

    /** A rollback the job cannot carry out says what it can go back to. */
    @Test
    void aRollbackTargetThatIsNotThereSaysWhatIs() {
        assertThat(new DeadLetterReason.UnknownModel("tiny-chat").describe()).isEqualTo("unknown-model: model tiny-chat has no release to roll back");
        assertThat(new DeadLetterReason.UnknownVersion("tiny-chat", 9, 7, 3).describe())
                .isEqualTo("unknown-version: model tiny-chat cannot roll back to version 9: its current version is 7 and the releases it can go back to are 3 to 6");
    }
}
