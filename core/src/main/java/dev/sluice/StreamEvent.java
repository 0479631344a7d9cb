package dev.sluice;

import static java.util.Objects.requireNonNull;

/**
 * What a {@link StreamReader} receives: tokens, then exactly one terminal event.
 *
 * <p>Sequence numbers start at 1 and have no gaps: the n-th token has sequence n and the terminal
 * event has sequence {@code tokens + 1}. A reader resumes with the last sequence number it saw.
 */
public sealed interface StreamEvent permits StreamEvent.Token, StreamEvent.Terminal {

  /** This event's position in the stream, from 1. */
  long sequence();

  /**
   * One token.
   *
   * @param sequence position in the stream, from 1
   * @param text the token as the source sent it
   */
  record Token(long sequence, String text) implements StreamEvent {
    /** Checks the components. */
    public Token {
      requireNonNull(text, "text");
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
}
