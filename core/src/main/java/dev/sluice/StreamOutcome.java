package dev.sluice;

import static java.util.Objects.requireNonNull;

import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * How a stream ended, and what its source reported about it.
 *
 * @param status which way it ended
 * @param tokens how many tokens the stream holds: every token whose {@link TokenSink#send} returned
 *     normally
 * @param message a human-readable reason for {@code CANCELLED}, {@code FAILED} and {@code TIMED_OUT}
 *     (which timeout fired, for example); null for {@code COMPLETED}
 * @param cause what the source threw, for {@code FAILED}; null otherwise
 * @param usage the model's token usage as the source reported it ({@link TokenSink#reportUsage});
 *     null if it reported none
 * @param finishReason why the model stopped, as the source reported it ({@link
 *     TokenSink#reportFinishReason}), e.g. {@code stop}, {@code length}, {@code tool_calls}; null if
 *     none
 * @param metadata other facts the source reported ({@link TokenSink#putMetadata}), e.g. the
 *     response model or id; unmodifiable, empty if none
 */
public record StreamOutcome(
    Status status,
    long tokens,
    @Nullable String message,
    @Nullable Throwable cause,
    @Nullable Usage usage,
    @Nullable String finishReason,
    Map<String, String> metadata) {

  /** Checks the components; copies the metadata. */
  public StreamOutcome {
    requireNonNull(status, "status");
    if (tokens < 0) {
      throw new IllegalArgumentException("tokens must be >= 0, got " + tokens);
    }
    metadata = Map.copyOf(requireNonNull(metadata, "metadata"));
  }

  /** An outcome with nothing reported by the source. */
  public StreamOutcome(
      Status status, long tokens, @Nullable String message, @Nullable Throwable cause) {
    this(status, tokens, message, cause, null, null, Map.of());
  }

  /**
   * A model's token usage, as its API reports it.
   *
   * @param inputTokens tokens of the prompt
   * @param outputTokens tokens generated (reasoning included, where the API counts it there)
   */
  public record Usage(long inputTokens, long outputTokens) {
    /** Checks the components. */
    public Usage {
      if (inputTokens < 0 || outputTokens < 0) {
        throw new IllegalArgumentException(
            "token counts must be >= 0, got input " + inputTokens + ", output " + outputTokens);
      }
    }

    /** Input plus output tokens, saturating. */
    public long totalTokens() {
      long sum = inputTokens + outputTokens;
      return sum < 0 ? Long.MAX_VALUE : sum;
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
