package dev.sluice;

/**
 * Produces the tokens of one stream: the SPI that adapters implement (an LLM HTTP call, a model
 * running in-process, a replay of a recording).
 *
 * <p>A {@link StreamManager} calls {@link #run} once, on a worker thread, and the way it returns is
 * the stream's status:
 *
 * <ul>
 *   <li>returning normally completes the stream ({@link StreamOutcome.Status#COMPLETED});
 *   <li>throwing fails it ({@link StreamOutcome.Status#FAILED}, the exception kept as the cause);
 *   <li>once the stream is cancelled, timed out or its manager closed, {@link TokenSink#send} throws
 *       {@link StreamCancelledException}; the source may simply let it propagate. The status stays
 *       the one that ended the stream.
 * </ul>
 *
 * <p>A source should also register a {@link TokenSink#onCancel} hook that aborts its upstream work
 * (closes the HTTP response), so that cancelling the stream stops the tokens being paid for. The
 * worker thread is interrupted on cancellation as well.
 */
@FunctionalInterface
public interface TokenSource {

  /**
   * Writes this stream's tokens to {@code sink}, in order, and returns when there are no more.
   *
   * <p>Called once, on a worker thread. Returning completes the stream, so call it when the
   * upstream is done. A callback-driven source (an HTTP client delivering chunks on its own
   * threads) waits in this method until its last callback and must order its {@code send}s by
   * happens-before. Callbacks that still fire after this method returned or after a cancel are
   * harmless: {@link TokenSink#isCancelled} returns true and {@link TokenSink#send} throws {@link
   * StreamCancelledException} at once, without adding a token or blocking.
   *
   * @param sink where the tokens go; cancellation-aware
   * @throws Exception to fail the stream; the exception becomes the outcome's cause
   */
  void run(TokenSink sink) throws Exception;
}
