package dev.sluice;

/**
 * Where a {@link TokenSource} writes its tokens: a bounded, cancellation-aware buffer in front of the
 * stream's reader.
 *
 * <p>Threading: {@link #send} is meant for one producer at a time; calls from several threads must be
 * ordered by happens-before (as the callbacks of an HTTP client are), never concurrent. {@link
 * #isCancelled} and {@link #onCancel} may be called from any thread.
 *
 * <p>After {@link TokenSource#run} returned, or after the stream ended, the sink stays safe to call:
 * a callback-driven source whose HTTP client keeps delivering chunks after a cancel finds {@link
 * #isCancelled} true and {@link #send} throwing {@link StreamCancelledException} at once, never
 * blocking and never adding a token to an ended stream.
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
  default void send(String token) {
    send(TokenKind.TEXT, token);
  }

  /**
   * Appends a token of the given kind: answer text, reasoning, or a tool-call delta. Otherwise
   * exactly like {@link #send(String)}; all kinds share one sequence and one buffer.
   *
   * @param kind what the token carries; not null
   * @param token the token's text; not null, may be empty
   * @throws NullPointerException if {@code kind} or {@code token} is null
   * @throws StreamCancelledException if the stream has ended; the token was dropped
   */
  void send(TokenKind kind, String token);

  /**
   * Reports the model's token usage, for the outcome ({@link StreamOutcome#usage()}) and the
   * listeners; the last report before the stream ends wins. Usually called once the upstream sent
   * its final chunk, before {@link TokenSource#run} returns. Safe from any thread; ignored once the
   * stream has ended.
   *
   * @throws IllegalArgumentException if a count is negative
   */
  void reportUsage(long inputTokens, long outputTokens);

  /**
   * Reports why the model stopped ({@code stop}, {@code length}, {@code tool_calls}, ...), for
   * {@link StreamOutcome#finishReason()}; the last report before the stream ends wins. Safe from
   * any thread; ignored once the stream has ended.
   *
   * @throws NullPointerException if {@code reason} is null
   * @throws IllegalArgumentException if {@code reason} is blank or longer than 256 characters
   */
  void reportFinishReason(String reason);

  /**
   * Adds a fact about the response for {@link StreamOutcome#metadata()} (the response model, its
   * id, ...); a later value for the same key replaces the earlier one. At most 32 keys of at most
   * 128 characters, values of at most 1,024. Safe from any thread; ignored once the stream has
   * ended.
   *
   * @throws NullPointerException if {@code key} or {@code value} is null
   * @throws IllegalArgumentException if the key is blank or too long, the value too long, or the
   *     32 keys are taken
   */
  void putMetadata(String key, String value);

  /**
   * Returns whether the stream has ended so that {@link #send} would throw: cancelled, timed out, or
   * its manager closed. A volatile read; cheap enough to poll between upstream reads.
   */
  boolean isCancelled();

  /**
   * Registers a hook that aborts upstream work when the stream is cancelled or times out, so that no
   * more tokens are produced (and paid for).
   *
   * <p>Each hook runs exactly once, promptly, after the worker thread has been interrupted: on the
   * manager's delivery executor ({@link StreamManager.Builder#deliveryExecutor}), never on the thread
   * that cancels and never on the timer thread, so a hook that blocks (closing an HTTP response body
   * may wait for the next chunk) delays only its own upstream abort. The hooks of one stream run in
   * registration order, one after the other; a hook registered once the stream was cancelled runs
   * too, promptly, after the ones registered before it. Hooks never run if the stream ends by its
   * source returning or throwing. An exception from a hook is logged and otherwise ignored.
   *
   * @param hook what to run on cancellation; not null
   * @throws NullPointerException if {@code hook} is null
   */
  void onCancel(Runnable hook);
}
