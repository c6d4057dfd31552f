package dev.kaizen.jobs.continual;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import dev.kaizen.alignment.synthetic.TwoStyleChat;
import dev.kaizen.schemas.ChatMessage;
import dev.kaizen.schemas.FeedbackEvent;
import dev.kaizen.schemas.ResponseLogged;
import dev.kaizen.schemas.Vote;
import dev.kaizen.schemas.wire.WireCodec;

/**
 * A stream of chat feedback with a known ground truth, for the end-to-end tests: right answers of
 * the two-style task, voted on by the task's rule (polite up, curt down) by many users, with
 * redeliveries, changed votes, cleared votes, garbage, invalid records, votes for answers that
 * never come, one user voting far over the cap, and a second phase of late votes. Per model, the
 * number of samples that must train is a multiple of the batch size, so no batch waits on a timer.
 */
final class FeedbackScenario {

    static final int CAP = 10;
    /** The user who votes far over the cap; {@link #CAP} of her votes train, all up. */
    static final String CAPPED_USER = "mallory";
    static final Map<String, Integer> DEAD_LETTERS = Map.of("bad-header", 100, "missing-field", 50, "unknown-response", 100,
            "user-cap", 50);

    private static final WireCodec<FeedbackEvent> VOTES = WireCodec.feedbackEvents(Clock.systemUTC());
    private static final WireCodec<ResponseLogged> RESPONSES = WireCodec.responses(Clock.systemUTC());

    // Three hours ago, at the start of an hour: every phase-one vote lies within its first 50 minutes.
    final Instant base = Instant.now().truncatedTo(ChronoUnit.HOURS).minus(Duration.ofHours(3));
    /**
     * Every answer, in event-time order across models as a product logs them: written model by model, the
     * second model's answers sat 40 minutes behind the answers' watermark, and a responses source that read
     * slower than the votes' let the votes on them expire as unknown-response before they were read.
     */
    final List<byte[]> responses = new ArrayList<>();
    /** Phase one, in event-time order as a product would send it (within the allowed disorder). */
    final List<byte[]> feedback = new ArrayList<>();
    /** One vote per partition far ahead in event time: moves the watermark past phase one, itself never final. */
    final List<byte[]> pushers = new ArrayList<>();
    /** One answer per partition as far ahead, no vote on it: moves the answers' watermark where their source never goes idle. */
    final List<byte[]> responsePushers = new ArrayList<>();
    /** Phase two: new votes on answers already decided, and redeliveries of old ones. */
    final List<byte[]> lateVotes = new ArrayList<>();
    final Map<String, Integer> expectedSamples = new LinkedHashMap<>();
    /**
     * Per model, every sample that must train, as {@link #sample}: each settled vote under the
     * cap, but for {@link #CAPPED_USER}'s, which the cap picks among by arrival order.
     */
    final Map<String, List<String>> expectedTrained = new LinkedHashMap<>();
    int expectedLate;

    private final List<FeedbackEvent> events = new ArrayList<>();
    private final Random random;

    FeedbackScenario(List<String> models, int answersPerModel, int batchSize, long seed) {
        random = new Random(seed);
        List<TwoStyleChat.Fact> facts = TwoStyleChat.trainFacts();
        Map<String, TwoStyleChat.Style> styles = new LinkedHashMap<>();
        List<ResponseLogged> answers = new ArrayList<>();
        for (String model : models) {
            int samples = 0;
            for (int i = 0; i < answersPerModel; i++) {
                String id = model + "-r" + i;
                TwoStyleChat.Fact fact = facts.get(random.nextInt(facts.size()));
                TwoStyleChat.Style style = random.nextBoolean() ? TwoStyleChat.Style.A : TwoStyleChat.Style.B;
                styles.put(id, style);
                long at = 1000L * i * 2400 / answersPerModel;  // spread over the first 40 minutes
                answers.add(ResponseLogged.newBuilder().setResponseId(id).setModelId(model).setModelVersion(0)
                        .setPrompt(List.of(new ChatMessage("user", fact.question()))).setCompletion(fact.answer(style))
                        .setCreatedAt(base.plusMillis(at)).build());
                Vote rule = style == TwoStyleChat.Style.A ? Vote.UP : Vote.DOWN;
                for (int k = 0; k < 2; k++) {
                    String user = "u" + i + "-" + k;
                    if (k == 0 && i % 6 == 0) {  // changed their mind: the later vote wins
                        vote(model + "-chg" + i, id, user, model, rule == Vote.UP ? Vote.DOWN : Vote.UP, at + 1000);
                    }
                    FeedbackEvent v = vote(model + "-e" + i + "-" + k, id, user, model, rule, at + 2000 + k);
                    events.add(v);  // every vote is redelivered once
                    trains(model, id, user, rule);
                    samples++;
                }
                if (i % 3 == 0) {  // voted, then withdrew it
                    vote(model + "-c" + i, id, "clearer" + i, model, Vote.UP, at + 3000);
                    vote(model + "-c" + i + "-clear", id, "clearer" + i, model, Vote.CLEAR, at + 4000);
                }
            }
            for (int j = 0; j < DEAD_LETTERS.get("unknown-response") / models.size(); j++) {
                vote(model + "-ghost" + j, model + "-never-answered-" + j, "g" + j, model, Vote.DOWN, 1000L * j);
            }
            if (model.equals(models.get(0))) {
                int votes = CAP + DEAD_LETTERS.get("user-cap");
                for (int j = 0; j < votes; j++) {  // one user on 60 answers within the hour: the cap lets 10 through
                    vote(model + "-mallory" + j, model + "-r" + j, CAPPED_USER, model, Vote.UP, 2000L * j + 500);
                }
                samples += CAP;
            }
            for (int j = 0; samples % batchSize != 0; j++, samples++) {
                String id = model + "-r" + j;
                Vote rule = styles.get(id) == TwoStyleChat.Style.A ? Vote.UP : Vote.DOWN;
                vote(model + "-fill" + j, id, "filler" + j, model, rule, 1000L * j * 2400 / answersPerModel + 2500);
                trains(model, id, "filler" + j, rule);
            }
            expectedSamples.put(model, samples);
        }
        answers.sort(Comparator.comparing(ResponseLogged::getCreatedAt));
        answers.forEach(a -> responses.add(RESPONSES.encode(a)));
        events.sort(Comparator.comparing(FeedbackEvent::getEventTime));
        events.forEach(e -> feedback.add(VOTES.encode(e)));
        for (int g = 0; g < DEAD_LETTERS.get("bad-header"); g++) {
            feedback.add(random.nextInt(feedback.size()), new byte[] {(byte) g, 42, 42});
        }
        for (int g = 0; g < DEAD_LETTERS.get("missing-field"); g++) {
            FeedbackEvent noUser = FeedbackEvent.newBuilder(events.get(g)).setEventId("invalid-" + g).setUserId("").build();
            feedback.add(random.nextInt(feedback.size()), VOTES.encode(noUser));
        }
        for (int p = 0; p < 2; p++) {
            pushers.add(VOTES.encode(event("pusher" + p, "pushed-" + p, "pusher" + p, models.get(0), Vote.UP,
                    Duration.ofHours(2).toMillis())));
            responsePushers.add(RESPONSES.encode(ResponseLogged.newBuilder().setResponseId("pushing-answer-" + p).setModelId(models.get(0))
                    .setModelVersion(0).setPrompt(List.of(new ChatMessage("user", "?"))).setCompletion("!")
                    .setCreatedAt(base.plus(Duration.ofHours(2))).build()));
        }
        for (String model : models) {
            for (int i = 0; i < 300 / models.size(); i++) {
                lateVotes.add(VOTES.encode(event(model + "-late" + i, model + "-r" + i, "u" + i + "-0", model, Vote.UP, 1000L * i)));
                expectedLate++;
            }
        }
        for (int i = 0; i < 100; i++) {
            lateVotes.add(VOTES.encode(events.get(random.nextInt(events.size()))));  // redelivered again: a duplicate still
        }
    }

    /** A sample as the tests compare them: the answer, the user and the label. */
    static String sample(String responseId, String userId, boolean desirable) {
        return responseId + " " + userId + " " + (desirable ? "up" : "down");
    }

    private void trains(String model, String responseId, String userId, Vote vote) {
        expectedTrained.computeIfAbsent(model, m -> new ArrayList<>()).add(sample(responseId, userId, vote == Vote.UP));
    }

    /** Every feedback event of both phases, the pushers included. */
    int feedbackEvents() {
        return feedback.size() + pushers.size() + lateVotes.size();
    }

    int expectedTotal() {
        return expectedSamples.values().stream().mapToInt(Integer::intValue).sum();
    }

    private FeedbackEvent vote(String event, String response, String user, String model, Vote vote, long offsetMillis) {
        FeedbackEvent e = event(event, response, user, model, vote, offsetMillis);
        events.add(e);
        return e;
    }

    private FeedbackEvent event(String event, String response, String user, String model, Vote vote, long offsetMillis) {
        return FeedbackEvent.newBuilder().setEventId(event).setResponseId(response).setUserId(user).setModelId(model)
                .setVote(vote).setEventTime(base.plusMillis(offsetMillis)).setPrompt(null).setCompletion(null).setAttributes(null)
                .build();
    }
}
