package dev.sluice.examples;

import dev.sluice.TokenSink;
import dev.sluice.TokenSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * A built-in fake LLM: streams a deterministic answer to a prompt at a fixed pace, after a fixed
 * first-token delay. Needs no network and no key, so the server, the demo and the tests run anywhere.
 *
 * <p>The answer depends only on the prompt and {@code tokens}: {@link #answer(String)} returns the
 * exact tokens {@link #source(String)} will send, which lets a client check that nothing was lost.
 */
public final class FakeLlm {

  /* Implementation notes
   *
   * Tokens are scheduled against absolute times (start + delay + i / pace), so a slow reader or a
   * loaded machine makes the stream catch up instead of drifting. The wait is Thread.sleep: the
   * manager interrupts the worker on cancel, so a cancelled stream stops within one wake-up even
   * while it sleeps, and TokenSink.send throws StreamCancelledException after that anyway.
   */

  private static final String[] WORDS = (
      "Sluice streams tokens from a producer to a reader through a bounded buffer. "
          + "Every send is cancellation-aware, so a client that leaves never strands a worker. "
          + "The final status is emitted exactly once and never blocks, and the stream stays "
          + "findable until that status has been read or its retention period has passed. "
          + "This answer comes from a fake model that needs no network and no key.")
      .split(" ");

  private final double tokensPerSecond;
  private final Duration firstTokenDelay;
  private final int tokens;

  /**
   * Creates a fake model.
   *
   * @param tokensPerSecond pace after the first token; must be positive
   * @param firstTokenDelay wait before the first token; not negative
   * @param tokens how many tokens each answer has; must be positive
   */
  public FakeLlm(double tokensPerSecond, Duration firstTokenDelay, int tokens) {
    if (!(tokensPerSecond > 0) || Double.isInfinite(tokensPerSecond)) {
      throw new IllegalArgumentException("tokensPerSecond must be > 0, got " + tokensPerSecond);
    }
    if (firstTokenDelay.isNegative()) {
      throw new IllegalArgumentException("firstTokenDelay must be >= 0, got " + firstTokenDelay);
    }
    if (tokens <= 0) {
      throw new IllegalArgumentException("tokens must be > 0, got " + tokens);
    }
    this.tokensPerSecond = tokensPerSecond;
    this.firstTokenDelay = firstTokenDelay;
    this.tokens = tokens;
  }

  /** The tokens of the answer to {@code prompt}, in order; the same on every call. */
  public List<String> answer(String prompt) {
    List<String> out = new ArrayList<>(tokens);
    String topic = prompt.strip().replaceAll("\\s+", " ");
    if (topic.length() > 40) {
      topic = topic.substring(0, 40) + "…";
    }
    out.add("You");
    if (tokens > 1) {
      out.add(" asked");
    }
    if (tokens > 2) {
      out.add(" \"" + topic + "\".");
    }
    // The starting word depends on the prompt, so different prompts get different answers.
    int start = Math.floorMod(prompt.hashCode(), WORDS.length);
    for (int i = 0; out.size() < tokens; i++) {
      out.add(" " + WORDS[(start + i) % WORDS.length]);
    }
    return out;
  }

  /** A source that streams {@link #answer(String)} for {@code prompt} at this model's pace. */
  public TokenSource source(String prompt) {
    List<String> answer = answer(prompt);
    long delayNanos = firstTokenDelay.toNanos();
    double intervalNanos = TimeUnit.SECONDS.toNanos(1) / tokensPerSecond;
    return sink -> stream(sink, answer, delayNanos, intervalNanos);
  }

  private static void stream(TokenSink sink, List<String> answer, long delayNanos, double intervalNanos)
      throws InterruptedException {
    long start = System.nanoTime() + delayNanos;
    for (int i = 0; i < answer.size(); i++) {
      long due = start + (long) (i * intervalNanos);
      long wait = due - System.nanoTime();
      if (wait > 0) {
        TimeUnit.NANOSECONDS.sleep(wait);
      }
      sink.send(answer.get(i));
    }
  }

  @Override
  public String toString() {
    return String.format(
        Locale.ROOT,
        "fake LLM (%d tokens at %.0f tokens/s, first token after %d ms)",
        tokens,
        tokensPerSecond,
        firstTokenDelay.toMillis());
  }
}
