package dev.sluice;

import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * Signalled to a {@link java.util.concurrent.Flow.Subscriber} of {@link StreamHandle#publisher()}
 * when its stream ended other than {@code COMPLETED} (cancelled, failed, timed out), or when the
 * subscriber was cut off as too slow. {@link #lastEvent()} is the event a {@link StreamReader} would
 * have returned last, so an adapter can tell a cancellation from a failure.
 */
public final class StreamEndedException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final transient StreamEvent lastEvent;

  /**
   * Creates the exception for a subscriber whose last event is {@code lastEvent}.
   *
   * @param streamId the stream's id
   * @param lastEvent a {@link StreamEvent.Terminal} or {@link StreamEvent.Detached}
   */
  public StreamEndedException(String streamId, StreamEvent lastEvent) {
    super(message(streamId, lastEvent), cause(lastEvent));
    this.lastEvent = lastEvent;
  }

  /** The terminal event, or the {@link StreamEvent.Detached} event of a subscriber cut off. */
  public StreamEvent lastEvent() {
    return lastEvent;
  }

  /** The stream's outcome, or empty if the stream goes on and only this subscriber was cut off. */
  public Optional<StreamOutcome> outcome() {
    return lastEvent instanceof StreamEvent.Terminal t ? Optional.of(t.outcome()) : Optional.empty();
  }

  private static String message(String streamId, StreamEvent e) {
    if (e instanceof StreamEvent.Terminal t) {
      String m = t.outcome().message();
      return "stream " + streamId + " ended " + t.status() + (m != null ? ": " + m : "");
    }
    if (e instanceof StreamEvent.Detached d) {
      return "stream " + streamId + ": " + d.reason();
    }
    throw new IllegalArgumentException("not a last event: " + e);
  }

  private static @Nullable Throwable cause(StreamEvent e) {
    return e instanceof StreamEvent.Terminal t ? t.outcome().cause() : null;
  }
}
