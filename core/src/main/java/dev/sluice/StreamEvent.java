package dev.sluice;

import static java.util.Objects.requireNonNull;

/**
 * What a {@link StreamReader} receives: tokens, then exactly one last event that ends the reader.
 *
 * <p>Sequence numbers start at 1: the n-th token has sequence n and the terminal event has sequence
 * {@code tokens + 1}. A reader sees them without gaps, except across a {@link Gap} event. A reader
 * resumes with the last sequence number it saw.
 *
 * <p>A reader's last event is a {@link Terminal} (the stream ended), or a {@link Detached} when the
 * stream cut this reader off for being too slow while the stream goes on (see {@link
 * SlowReaderPolicy}). After it, {@link StreamReader#isFinished()} is true.
 */
public sealed interface StreamEvent
    permits StreamEvent.Token, StreamEvent.Terminal, StreamEvent.Gap, StreamEvent.Detached {

  /** This event's position in the stream, from 1. */
  long sequence();

  /**
   * One token.
   *
   * @param sequence position in the stream, from 1
   * @param kind what it carries: answer text, reasoning, or a tool-call delta
   * @param text the token as the source sent it
   */
  record Token(long sequence, TokenKind kind, String text) implements StreamEvent {
    /** Checks the components. */
    public Token {
      requireNonNull(kind, "kind");
      requireNonNull(text, "text");
    }

    /** A {@link TokenKind#TEXT} token. */
    public Token(long sequence, String text) {
      this(sequence, TokenKind.TEXT, text);
    }
  }

  /**
   * The last event of every stream: how it ended.
   *
   * @param sequence the number of tokens plus one
   * @param outcome the stream's outcome, the same one {@link StreamHandle#outcome()} completes with
   */
  record Terminal(long sequence, StreamOutcome outcome) implements StreamEvent {
    /** Checks the components. */
    public Terminal {
      requireNonNull(outcome, "outcome");
    }

    /** Shorthand for {@code outcome().status()}. */
    public StreamOutcome.Status status() {
      return outcome.status();
    }
  }

  /**
   * This reader fell behind for longer than the slow-reader timeout and skipped tokens ({@link
   * SlowReaderPolicy#SKIP}); the next token has sequence {@code sequence + 1}.
   *
   * @param sequence the last token skipped
   * @param skipped how many tokens were skipped, at least 1
   */
  record Gap(long sequence, long skipped) implements StreamEvent {
    /** Checks the components. */
    public Gap {
      if (skipped < 1) {
        throw new IllegalArgumentException("skipped must be >= 1, got " + skipped);
      }
    }
  }

  /**
   * This reader was cut off for falling behind longer than the slow-reader timeout ({@link
   * SlowReaderPolicy#DETACH}); the stream goes on without it. A new reader may resume with {@code
   * attach(sequence)} while the tokens after it are retained.
   *
   * @param sequence the last token this reader received (0 if none)
   * @param reason why, for logs and clients
   */
  record Detached(long sequence, String reason) implements StreamEvent {
    /** Checks the components. */
    public Detached {
      requireNonNull(reason, "reason");
    }
  }
}
