package dev.sluice;

import java.util.concurrent.CancellationException;

/**
 * Thrown by {@link TokenSink#send} once the stream no longer accepts tokens: it was cancelled, timed
 * out, or its manager closed. A {@link TokenSource} may let it propagate; the stream's status is the
 * one that ended it, never {@code FAILED} because of this exception.
 */
public final class StreamCancelledException extends CancellationException {

  private static final long serialVersionUID = 1L;

  private final String streamId;
  private final StreamOutcome.Status status;

  /**
   * Creates an exception for a stream that ended with {@code status}.
   *
   * @param streamId the stream's id
   * @param status how the stream ended
   * @param message the detail message
   */
  public StreamCancelledException(String streamId, StreamOutcome.Status status, String message) {
    super(message);
    this.streamId = streamId;
    this.status = status;
  }

  /** The id of the stream that refused the token. */
  public String streamId() {
    return streamId;
  }

  /** How the stream ended: usually {@code CANCELLED} or {@code TIMED_OUT}. */
  public StreamOutcome.Status status() {
    return status;
  }
}
