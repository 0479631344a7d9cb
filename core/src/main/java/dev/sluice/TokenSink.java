package dev.sluice;

/**
 * Where a {@link TokenSource} writes its tokens: a bounded, cancellation-aware buffer in front of the
 * stream's reader.
 *
 * <p>Threading: {@link #send} is meant for one producer at a time; calls from several threads must be
 * ordered by happens-before (as the callbacks of an HTTP client are), never concurrent. {@link
 * #isCancelled} and {@link #onCancel} may be called from any thread.
 */
public interface TokenSink {

  /** The id of the stream this sink feeds; see {@link StreamHandle#id()}. */
  String streamId();

  /**
   * Appends a token to the stream, waiting while the stream's buffer is full.
   *
   * <p>The wait ends promptly, with {@link StreamCancelledException}, when the stream is cancelled,
   * its reader detaches under {@link DetachPolicy#CANCEL}, one of its timeouts fires, or its manager
   * closes. If the calling thread is interrupted while the stream is still running, the stream fails
   * with an {@link InterruptedException} cause, the interrupt status is kept, and this method throws
   * {@link StreamCancelledException}.
   *
   * <p>When this method returns normally, the token is part of the stream: a reader that stays
   * attached receives it, in order, before the terminal event.
   *
   * @param token the token's text; not null, may be empty
   * @throws NullPointerException if {@code token} is null
   * @throws StreamCancelledException if the stream has ended; the token was dropped
   */
  void send(String token);

  /**
   * Returns whether the stream has ended so that {@link #send} would throw: cancelled, timed out, or
   * its manager closed. A volatile read; cheap enough to poll between upstream reads.
   */
  boolean isCancelled();

  /**
   * Registers a hook that aborts upstream work when the stream is cancelled or times out, so that no
   * more tokens are produced (and paid for).
   *
   * <p>Each hook runs exactly once: on the thread that ends the stream, or at once on the calling
   * thread if the stream was already cancelled. Hooks never run if the stream ends by its source
   * returning or throwing. Hooks should be short and must not block (closing an HTTP response body is
   * fine); an exception from a hook is logged and otherwise ignored.
   *
   * @param hook what to run on cancellation; not null
   * @throws NullPointerException if {@code hook} is null
   */
  void onCancel(Runnable hook);
}
