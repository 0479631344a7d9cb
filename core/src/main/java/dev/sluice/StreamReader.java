package dev.sluice;

import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * A cursor over one stream's events: every token in order, then exactly one terminal event.
 *
 * <p>Obtained from {@link StreamHandle#attach()}. Closing the reader before the terminal event
 * detaches it: under {@link DetachPolicy#CANCEL} that cancels the stream (a client disconnect), under
 * {@link DetachPolicy#KEEP_RUNNING} the stream keeps running and can be resumed.
 *
 * <p>Threading: one thread reads at a time; {@link #close()} may be called from any thread and wakes
 * a blocked reader.
 */
public interface StreamReader extends AutoCloseable {

  /**
   * Returns the next event, waiting for it if necessary.
   *
   * @return the next token, or the terminal event
   * @throws InterruptedException if interrupted while waiting
   * @throws java.util.NoSuchElementException if the terminal event was already returned
   * @throws IllegalStateException if this reader was closed
   */
  StreamEvent next() throws InterruptedException;

  /**
   * Returns the next event, waiting at most {@code timeout} for it.
   *
   * @param timeout how long to wait; zero or negative does not wait
   * @return the next event, or null if none arrived in time
   * @throws InterruptedException if interrupted while waiting
   * @throws java.util.NoSuchElementException if the terminal event was already returned
   * @throws IllegalStateException if this reader was closed
   */
  @Nullable StreamEvent poll(Duration timeout) throws InterruptedException;

  /** The sequence number of the last event returned; 0 (or the resume point) before the first. */
  long lastSequence();

  /** Whether the terminal event has been returned. */
  boolean isFinished();

  /** Detaches this reader; idempotent. See the class documentation for what detaching does. */
  @Override
  void close();
}
