package dev.sluice;

import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * A cursor over one stream's events: every token in order, then exactly one last event — the
 * {@link StreamEvent.Terminal}, or a {@link StreamEvent.Detached} if the stream cut this reader off
 * as too slow (see {@link SlowReaderPolicy}).
 *
 * <p>Obtained from {@link StreamHandle#attach()}; a stream may have many. Each attached reader holds
 * the producer back (the producer stays within the buffer size of the slowest one). Closing a reader
 * before its last event detaches it; when the last reader detaches, {@link DetachPolicy#CANCEL}
 * cancels the stream (a client disconnect) and {@link DetachPolicy#KEEP_RUNNING} keeps it running
 * for a resume.
 *
 * <p>Threading: one thread reads at a time; {@link #close()} may be called from any thread and wakes
 * a blocked reader.
 */
public interface StreamReader extends AutoCloseable {

  /**
   * Returns the next event, waiting for it if necessary.
   *
   * @return the next event
   * @throws InterruptedException if interrupted while waiting
   * @throws java.util.NoSuchElementException if the last event was already returned
   * @throws IllegalStateException if this reader was closed
   */
  StreamEvent next() throws InterruptedException;

  /**
   * Returns the next event, waiting at most {@code timeout} for it.
   *
   * @param timeout how long to wait; zero or negative does not wait
   * @return the next event, or null if none arrived in time
   * @throws InterruptedException if interrupted while waiting
   * @throws java.util.NoSuchElementException if the last event was already returned
   * @throws IllegalStateException if this reader was closed
   */
  @Nullable StreamEvent poll(Duration timeout) throws InterruptedException;

  /** The sequence number of the last event returned; 0 (or the resume point) before the first. */
  long lastSequence();

  /** Whether the last event (terminal or detached) has been returned. */
  boolean isFinished();

  /** Detaches this reader; idempotent. See the class documentation for what detaching does. */
  @Override
  void close();
}
