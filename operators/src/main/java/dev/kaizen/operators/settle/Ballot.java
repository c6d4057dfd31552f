package dev.kaizen.operators.settle;

import java.util.ArrayList;
import java.util.List;

/**
 * What {@link SettleVotes} keeps about one response's votes, as one Flink POJO in one state entry:
 * a response has a handful of votes, so reading and writing them whole costs one RocksDB get and
 * one put per event, where a state per field would cost one each. Public fields and a no-argument
 * constructor make it a POJO, so fields can be added later without breaking savepoints.
 */
public class Ballot {

    /** No timer registered. */
    static final long NONE = Long.MAX_VALUE;

    /** Event ids seen, for deduplication. */
    public List<String> seen = new ArrayList<>();
    /** Per user, the latest vote that is not final yet. */
    public List<PendingVote> pending = new ArrayList<>();
    /** Users whose vote is final: anything more from them is late. */
    public List<String> decided = new ArrayList<>();
    /** Final UP or DOWN votes waiting for the answer's text. */
    public List<PendingVote> awaitingText = new ArrayList<>();
    /** Whether the answer's text has arrived (the text itself is kept apart, read only to join). */
    public boolean answered;
    /** The earliest timer registered that has not fired, or {@link #NONE}. */
    public long wakeAt = NONE;

    public Ballot() {}
}
