package dev.sluice;

import static java.util.Objects.requireNonNull;

import org.jspecify.annotations.Nullable;

/**
 * How a stream ended.
 *
 * @param status which way it ended
 * @param tokens how many tokens the stream holds: every token whose {@link TokenSink#send} returned
 *     normally
 * @param message a human-readable reason for {@code CANCELLED}, {@code FAILED} and {@code TIMED_OUT}
 *     (which timeout fired, for example); null for {@code COMPLETED}
 * @param cause what the source threw, for {@code FAILED}; null otherwise
 */
public record StreamOutcome(
    Status status, long tokens, @Nullable String message, @Nullable Throwable cause) {

  /** Checks the components. */
  public StreamOutcome {
    requireNonNull(status, "status");
    if (tokens < 0) {
      throw new IllegalArgumentException("tokens must be >= 0, got " + tokens);
    }
  }

  /** The four ways a stream ends. */
  public enum Status {
    /** The source returned normally. */
    COMPLETED,
    /** {@link StreamHandle#cancel()} was called, the reader detached, or the manager closed. */
    CANCELLED,
    /** The source threw (or was interrupted); see {@link StreamOutcome#cause()}. */
    FAILED,
    /** A timeout fired; {@link StreamOutcome#message()} names which one. */
    TIMED_OUT
  }
}
