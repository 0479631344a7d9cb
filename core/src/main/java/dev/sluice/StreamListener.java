package dev.sluice;

import java.time.Duration;

/**
 * Observes stream lifecycles, for metrics and tracing. Every method has an empty default.
 *
 * <p>Methods run on the thread where the event happens (noted per method) and must be quick. An
 * exception thrown by a listener is logged and otherwise ignored: it never changes a stream's status
 * and never kills a worker.
 */
public interface StreamListener {

  /** The source starts running; on the worker thread. */
  default void onStart(StreamHandle stream) {}

  /** The first token was sent; on the producer's thread. */
  default void onFirstToken(StreamHandle stream, Duration timeToFirstToken) {}

  /** The stream ended; on the thread that ended it. */
  default void onTerminal(StreamHandle stream, StreamOutcome outcome) {}

  /**
   * The stream left the registry because its retention period passed; on the timer thread. Streams
   * whose terminal event was delivered to a reader are removed without this call.
   */
  default void onEvicted(StreamHandle stream) {}
}
