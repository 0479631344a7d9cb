package dev.sluice;

import java.time.Duration;

/**
 * Observes stream lifecycles, for metrics and tracing. Every method has an empty default.
 *
 * <p>Each method's thread is noted on it: the source's own thread for what the source does, the
 * manager's delivery executor for the end of a stream, never the timer thread and never a thread
 * that cancels. Methods should be quick; one that blocks delays only the callbacks queued behind it
 * on that executor. An exception thrown by a listener is logged and otherwise ignored: it never
 * changes a stream's status and never kills a worker.
 */
public interface StreamListener {

  /**
   * The stream was submitted and is findable; on the thread that called {@code submit}, before it
   * returns (and before {@link #onStart}, unless the stream went to the queue and a worker took it
   * at once). {@link StreamHandle#queueWait()} says how long it waited, once it starts.
   */
  default void onSubmit(StreamHandle stream) {}

  /** The source starts running; on the worker thread. */
  default void onStart(StreamHandle stream) {}

  /** The first token was sent; on the producer's thread. */
  default void onFirstToken(StreamHandle stream, Duration timeToFirstToken) {}

  /**
   * The stream ended; on the delivery executor, before its {@link StreamHandle#outcome()} completes.
   */
  default void onTerminal(StreamHandle stream, StreamOutcome outcome) {}

  /**
   * The stream left the registry because its retention period passed; on the delivery executor.
   * Streams whose terminal event was delivered to a reader are removed without this call.
   */
  default void onEvicted(StreamHandle stream) {}
}
