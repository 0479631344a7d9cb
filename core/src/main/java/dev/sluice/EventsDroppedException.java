package dev.sluice;

/**
 * Thrown by {@link StreamHandle#attach(long)} when the events a reader asks for are no longer
 * retained: the stream's replay window has moved past them. The reader can start again from {@link
 * #firstRetained()} if a gap is acceptable.
 */
public final class EventsDroppedException extends IllegalStateException {

  private static final long serialVersionUID = 1L;

  private final long firstRequested;
  private final long firstRetained;

  /**
   * Creates an exception saying that events {@code firstRequested .. firstRetained - 1} are gone.
   *
   * @param streamId the stream's id
   * @param firstRequested the first sequence number the reader asked for
   * @param firstRetained the oldest sequence number still retained
   */
  public EventsDroppedException(String streamId, long firstRequested, long firstRetained) {
    super(
        "stream "
            + streamId
            + ": events "
            + firstRequested
            + ".."
            + (firstRetained - 1)
            + " are no longer retained (oldest retained: "
            + firstRetained
            + ")");
    this.firstRequested = firstRequested;
    this.firstRetained = firstRetained;
  }

  /** The first sequence number the reader asked for. */
  public long firstRequested() {
    return firstRequested;
  }

  /** The oldest sequence number still retained; resuming after {@code firstRetained() - 1} works. */
  public long firstRetained() {
    return firstRetained;
  }
}
