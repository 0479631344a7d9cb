package dev.sluice.testkit;

import dev.sluice.StreamCancelledException;
import dev.sluice.TokenSink;
import dev.sluice.TokenSource;
import java.io.IOException;
import java.time.Duration;

/**
 * Every adapter bug the kit exists to catch, in one source: it never registers an {@code onCancel}
 * hook, swallows {@link StreamCancelledException} and keeps sending, returns normally when its
 * upstream fails, and loops on interrupts. Its upstream is a timer that it polls; its life is
 * bounded ({@code tokens * interval}) so that a test never leaks it for long.
 */
final class LeakySource implements TokenSource {

  private final int tokens;
  private final Duration interval;
  private final int failAfter;

  /** A leaky source of {@code tokens} tokens, one per {@code interval}; -1: the upstream never fails. */
  LeakySource(int tokens, Duration interval, int failAfter) {
    this.tokens = tokens;
    this.interval = interval;
    this.failAfter = failAfter;
  }

  @Override
  public void run(TokenSink sink) {
    // Bug: no sink.onCancel(...), so a cancel cannot reach the upstream.
    for (int i = 0; i < tokens; i++) {
      String token;
      try {
        token = readUpstream(i);
      } catch (IOException e) {
        return; // Bug: the failure is swallowed; the stream ends COMPLETED, truncated.
      }
      try {
        sink.send(token);
      } catch (StreamCancelledException e) {
        // Bug: swallowed; the loop keeps reading (and paying for) tokens nobody will read.
      }
    }
  }

  private String readUpstream(int i) throws IOException {
    long deadline = System.nanoTime() + interval.toNanos();
    for (long left; (left = deadline - System.nanoTime()) > 0; ) {
      try {
        Thread.sleep(Math.max(1, left / 1_000_000));
      } catch (InterruptedException e) {
        // Bug: swallowed (and the flag cleared); the wait goes on.
      }
    }
    if (i == failAfter) {
      throw new IOException("HTTP 500 after " + i + " tokens");
    }
    return "leak#" + i;
  }
}
