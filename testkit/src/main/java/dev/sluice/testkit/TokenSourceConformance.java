package dev.sluice.testkit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.StreamEvent;
import dev.sluice.StreamHandle;
import dev.sluice.StreamManager;
import dev.sluice.StreamOutcome;
import dev.sluice.StreamReader;
import dev.sluice.TokenSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * JUnit 5 conformance tests for a {@link TokenSource} adapter. Extend it in a test class, return a
 * fresh source from {@link #newSource()}, and the inherited tests check that the source:
 *
 * <ol>
 *   <li>stops (returns, or throws) within {@link #stopBound()} after its stream is cancelled, both
 *       mid-stream and as it starts, before its first token;
 *   <li>closes its upstream: it registered a {@link dev.sluice.TokenSink#onCancel} hook, and the hook
 *       ran without throwing or blocking;
 *   <li>never calls {@code send} again once it has seen the cancellation ({@code isCancelled()}
 *       returned true, or {@code send} threw {@link dev.sluice.StreamCancelledException});
 *   <li>reports an upstream failure by throwing, so the stream ends {@code FAILED} with the exception
 *       as its cause, not {@code COMPLETED} (needs {@link #newFailingSource()});
 *   <li>ends within {@link #stopBound()} when its worker thread is interrupted mid-stream, by
 *       throwing (an interrupted stream is not a complete one);
 * </ol>
 *
 * plus a sanity check that a normal run completes with its tokens in order. Each failure message
 * says what the source did and how to fix it.
 *
 * <p><b>What {@link #newSource()} must return.</b> A new source each call, streaming from a fake or
 * local upstream (a mock HTTP server, a scripted connection) that the test controls: at least two
 * tokens, the first within {@link #firstTokenTimeout()}, and still running at least {@link
 * #stopBound()} after its first token, either because it streams slowly (say 50 tokens, 20 ms
 * apart) or because it waits for upstream data that does not come until cancelled. A source that
 * finishes before the kit can cancel it fails with a message saying so.
 *
 * <p>Each test runs its source on its own {@link StreamManager} (stop timeout {@link #stopBound()},
 * a buffer large enough that {@code send} never waits for a reader), closed after the test. Only the
 * public API of {@code dev.sluice} is used.
 *
 * <pre>{@code
 * class MyProviderSourceConformanceTest extends TokenSourceConformance {
 *   protected TokenSource newSource() { // 50 tokens, 20 ms apart, from a local mock server
 *     return new MyProviderSource(mockServer.slowStream(50, Duration.ofMillis(20)));
 *   }
 * }
 * }</pre>
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS) // a backstop only: every wait below is bounded
public abstract class TokenSourceConformance {

  /*
   * Implementation notes
   *
   * The kit sees the source only through the public API: a wrapping TokenSource and TokenSink
   * (SourceRun) record what the source does, and a real StreamManager runs it, so that cancel,
   * interrupts and hooks happen exactly as in production. The buffer is large so that the source,
   * when cancelled or interrupted, is waiting on its own upstream, not parked in send (where the
   * manager would wake it whatever the source does).
   *
   * cancel() returns at once and the hooks run on the manager's delivery executor; cancel() is
   * still called on a separate daemon thread, so that even a core that ran them inline could not
   * hang the test: a hook that blocks fails the check.
   */

  private static final int BUFFER = 1 << 16;

  private @Nullable StreamManager manager;

  /** For subclasses. */
  protected TokenSourceConformance() {}

  // ---------------------------------------------------------------- what subclasses provide

  /**
   * Returns a new source under test, for one stream. Called once per test, on the test thread; the
   * source runs on a worker thread.
   *
   * <p>It must stream at least two tokens, the first within {@link #firstTokenTimeout()}, and keep
   * streaming (or waiting for upstream data) for at least {@link #stopBound()} after its first
   * token, and complete normally within {@link #completionTimeout()} when left alone.
   */
  protected abstract TokenSource newSource();

  /**
   * Returns a new source whose upstream fails (an HTTP 500, a connection dropped mid-stream), for
   * the check that failures are reported by throwing; null, the default, skips that check.
   */
  protected @Nullable TokenSource newFailingSource() {
    return null;
  }

  /**
   * How long the source may take to stop after its stream is cancelled or its worker interrupted.
   * Also the manager's stop timeout. Default 2 seconds.
   */
  protected Duration stopBound() {
    return Duration.ofSeconds(2);
  }

  /** How long to wait for the source's first token. Default 5 seconds. */
  protected Duration firstTokenTimeout() {
    return Duration.ofSeconds(5);
  }

  /** How long a run left alone (or a failing run) may take to end. Default 10 seconds. */
  protected Duration completionTimeout() {
    return Duration.ofSeconds(10);
  }

  // ---------------------------------------------------------------- fixture

  @BeforeEach
  protected final void startManager() {
    manager =
        StreamManager.builder()
            .maxRunning(2)
            .bufferSize(BUFFER)
            .stopTimeout(stopBound())
            .build();
  }

  @AfterEach
  protected final void closeManager() {
    StreamManager m = manager;
    manager = null;
    if (m != null) {
      m.close();
    }
  }

  // ---------------------------------------------------------------- the checks

  /** Sanity: left alone, the source completes, and the reader gets its tokens in order. */
  @Test
  @Order(0)
  @DisplayName("sanity: a normal run completes with its tokens in order")
  protected void run_leftAlone_completesWithTokensInOrder() throws InterruptedException {
    SourceRun run = start(newSource(), "newSource()");
    List<String> read = new ArrayList<>();
    StreamEvent.@Nullable Terminal terminal = null;
    long deadline = System.nanoTime() + completionTimeout().toNanos();
    try (StreamReader reader = run.handle().attach()) {
      while (terminal == null) {
        long left = deadline - System.nanoTime();
        StreamEvent e = left > 0 ? reader.poll(Duration.ofNanos(left)) : null;
        if (e == null) {
          throw failure(
              "newSource() did not complete within completionTimeout() = "
                  + millis(completionTimeout())
                  + " when left alone: run() "
                  + run.howItEnded()
                  + " after "
                  + run.acceptedCount()
                  + " tokens."
                  + run.workerStack()
                  + "\nFix: make the fake upstream end its stream, or override completionTimeout().");
        }
        if (e instanceof StreamEvent.Token t) {
          read.add(t.text());
        } else {
          terminal = (StreamEvent.Terminal) e;
        }
      }
    }
    StreamOutcome outcome = terminal.outcome();
    if (outcome.status() != StreamOutcome.Status.COMPLETED) {
      throw failure(
          "a normal run of newSource() ended "
              + outcome.status()
              + " ("
              + outcome.message()
              + ") after "
              + read.size()
              + " tokens; expected COMPLETED. run() "
              + run.howItEnded()
              + ".",
          outcome.cause());
    }
    List<String> sent = run.accepted();
    if (!read.equals(sent)) {
      throw failure(
          "the reader received "
              + read
              + " but the source's sends that returned normally were "
              + sent
              + ": tokens must go through sink.send, in order, from one thread at a time.");
    }
    if (read.size() < 2) {
      throw failure(
          "newSource() streamed "
              + read.size()
              + " token(s); the kit needs at least 2, so that it can cancel mid-stream."
              + "\nFix: make the fake upstream stream more tokens, more slowly.");
    }
    if (terminal.sequence() != read.size() + 1L || outcome.tokens() != read.size()) {
      throw failure(
          "the terminal event has sequence "
              + terminal.sequence()
              + " and counts "
              + outcome.tokens()
              + " tokens, but "
              + read.size()
              + " tokens were read");
    }
    if (run.sendsAfterReturn() > 0) {
      throw failure(
          "the source called send "
              + run.sendsAfterReturn()
              + " time(s) after run() returned; the sink must not be used after run() returns."
              + "\nFix: wait in run() for the upstream callbacks to finish before returning.");
    }
  }

  /** Check 1, mid-stream: a cancel after the first token ends run() within the bound. */
  @Test
  @Order(1)
  @DisplayName("stops within the bound when cancelled mid-stream")
  protected void cancel_midStream_runEndsWithinStopBound() throws InterruptedException {
    SourceRun run = startAndAwaitFirstToken();
    cancel(run, "after its first token");
    if (!run.awaitReturn(stopBound())) {
      throw failure(didNotStop(run, "cancelled mid-stream (after token " + run.acceptedAtCancel() + ")"));
    }
  }

  /** Check 1, at the start: a cancel as soon as run() is entered ends it within the bound. */
  @Test
  @Order(2)
  @DisplayName("stops within the bound when cancelled before its first token")
  protected void cancel_beforeFirstToken_runEndsWithinStopBound() throws InterruptedException {
    SourceRun run = start(newSource(), "newSource()");
    cancel(run, "as soon as run() was entered");
    if (!run.awaitReturn(stopBound())) {
      String when =
          run.acceptedAtCancel() == 0
              ? "cancelled before its first token"
              : "cancelled as soon as run() was entered (after token " + run.acceptedAtCancel() + ")";
      throw failure(didNotStop(run, when));
    }
  }

  /** Check 2: the source registered an onCancel hook before the cancel, and it ran cleanly. */
  @Test
  @Order(3)
  @DisplayName("closes its upstream: its onCancel hook ran on cancel")
  protected void cancel_midStream_onCancelHookRan() throws InterruptedException {
    SourceRun run = startAndAwaitFirstToken();
    cancel(run, "after its first token");
    run.awaitReturn(stopBound());
    if (run.hooksRegisteredAtCancel() == 0) {
      throw failure(
          "the source registered no onCancel hook before its stream was cancelled (after token "
              + run.acceptedAtCancel()
              + "), so cancelling it cannot close its upstream: the provider keeps generating,"
              + " and billing, tokens that nobody reads."
              + (run.hooksRegistered() > 0
                  ? " (It registered " + run.hooksRegistered() + " only after the cancel.)"
                  : "")
              + "\nFix: right after opening the upstream call, register"
              + " sink.onCancel(response::close) (or call.cancel(), subscription.cancel()).");
    }
    Throwable hookFailure = run.hookFailure();
    if (hookFailure != null) {
      throw failure(
          "the source's onCancel hook threw "
              + hookFailure
              + "; a hook must close the upstream without throwing (the manager only logs the"
              + " exception, and whatever the hook did not get to stays open).",
          hookFailure);
    }
  }

  /** Check 3: no send once the source has seen the cancellation. */
  @Test
  @Order(4)
  @DisplayName("never sends after cancellation is visible")
  protected void cancel_midStream_noSendAfterCancellationVisible() throws InterruptedException {
    SourceRun run = startAndAwaitFirstToken();
    cancel(run, "after its first token");
    run.awaitReturn(stopBound());
    int late = run.sendsAfterCancelVisible();
    if (late > 0) {
      throw failure(
          "the source called send "
              + late
              + " time(s) after it had seen its stream cancelled ("
              + run.howCancelBecameVisible()
              + "), starting with \""
              + run.firstSendAfterCancelVisible()
              + "\"; "
              + run.refusedSends()
              + " send(s) were refused with StreamCancelledException in all; run() "
              + run.howItEnded()
              + stopTime(run)
              + ". Swallowing StreamCancelledException (or ignoring isCancelled()) keeps the"
              + " upstream running and its tokens billed."
              + "\nFix: let StreamCancelledException propagate out of run(), and stop reading"
              + " upstream once sink.isCancelled() returns true.");
    }
  }

  /** Check 4: an upstream failure ends the stream FAILED with the source's exception. */
  @Test
  @Order(5)
  @DisplayName("reports failures by throwing")
  protected void run_upstreamFails_streamEndsFailedWithCause() throws InterruptedException {
    TokenSource failing = newFailingSource();
    assumeTrue(
        failing != null,
        "newFailingSource() is not overridden, so the failure check is skipped. Override it to"
            + " return a source whose upstream fails (an HTTP 500, a connection dropped"
            + " mid-stream).");
    SourceRun run = start(failing, "newFailingSource()");
    StreamOutcome outcome = run.awaitOutcome(completionTimeout());
    if (outcome == null) {
      throw failure(
          "the stream of newFailingSource() did not end within completionTimeout() = "
              + millis(completionTimeout())
              + ": run() "
              + run.howItEnded()
              + " after "
              + run.acceptedCount()
              + " tokens."
              + run.workerStack()
              + "\nFix: when the upstream fails, throw from run() instead of retrying or waiting.");
    }
    switch (outcome.status()) {
      case FAILED -> {
        if (outcome.cause() == null) {
          throw failure("the stream ended FAILED without a cause (" + outcome.message() + ")");
        }
      }
      case COMPLETED ->
          throw failure(
              "newFailingSource()'s stream ended COMPLETED with "
                  + outcome.tokens()
                  + " token(s): run() returned normally although its upstream failed, so a reader"
                  + " takes a truncated answer for a complete one."
                  + "\nFix: throw from run() when the upstream fails (let the IOException"
                  + " propagate, or wrap it); do not catch, log and return.");
      case CANCELLED, TIMED_OUT ->
          throw failure(
              "newFailingSource()'s stream ended "
                  + outcome.status()
                  + " ("
                  + outcome.message()
                  + ") although nobody cancelled it; expected FAILED.");
      default -> throw new IllegalStateException("unexpected status " + outcome.status());
    }
  }

  /** Check 5: an interrupt of the worker mid-stream ends run() promptly, without being swallowed. */
  @Test
  @Order(6)
  @DisplayName("ends promptly when its worker thread is interrupted")
  protected void interrupt_whileWaitingUpstream_runEndsWithinStopBound()
      throws InterruptedException {
    SourceRun run = startAndAwaitFirstToken();
    if (!run.interruptIfRunning()) {
      throw failure(finishedTooSoon(run, "interrupt it"));
    }
    if (!run.awaitReturn(stopBound())) {
      throw failure(
          "the source was still running "
              + millis(stopBound())
              + " after its worker thread was interrupted (at token "
              + run.acceptedAtInterrupt()
              + "); it sent "
              + (run.acceptedCount() - run.acceptedAtInterrupt())
              + " more token(s) since. It swallows the interrupt: it catches InterruptedException"
              + " (or clears the flag) and goes on waiting."
              + run.workerStack()
              + "\nFix: let InterruptedException propagate out of run() (or restore the flag with"
              + " Thread.currentThread().interrupt() and throw), and never retry a wait that was"
              + " interrupted. If the upstream read ignores interrupts (a java.net.Socket stream),"
              + " check Thread.currentThread().isInterrupted() between reads and throw.");
    }
    if (!run.threw()) {
      StreamOutcome outcome = run.awaitOutcome(stopBound());
      String ended =
          "run() returned normally "
              + run.millisFromInterruptToReturn()
              + " ms after its worker thread was interrupted (at token "
              + run.acceptedAtInterrupt()
              + ")";
      String status = outcome == null ? "(not within the bound)" : outcome.status().toString();
      if (!run.interruptedAtEnd()) {
        throw failure(
            ended
                + ", with the interrupt flag cleared: it swallowed the interrupt, and the stream"
                + " ended "
                + status
                + " as if its answer were complete."
                + "\nFix: let InterruptedException propagate out of run() (or wrap it in an"
                + " exception and restore the flag).");
      }
      throw failure(
          ended
              + ", and the stream ended "
              + status
              + ". Either it stopped on the interrupt but reported a complete answer (throw"
              + " instead: InterruptedException, or an exception wrapping it), or newSource() is"
              + " too short for the kit, which needs a source that keeps streaming for at least"
              + " stopBound() = "
              + millis(stopBound())
              + " after its first token.");
    }
  }

  // ---------------------------------------------------------------- helpers

  private StreamManager manager() {
    StreamManager m = manager;
    if (m == null) {
      throw new IllegalStateException("no manager: the @BeforeEach method did not run");
    }
    return m;
  }

  private SourceRun start(@Nullable TokenSource source, String what) throws InterruptedException {
    if (source == null) {
      throw failure(what + " returned null; it must return a new TokenSource each call.");
    }
    SourceRun run = SourceRun.submit(manager(), source);
    if (!run.awaitStart(firstTokenTimeout())) {
      throw failure("the manager did not start " + what + " within " + millis(firstTokenTimeout()));
    }
    return run;
  }

  private SourceRun startAndAwaitFirstToken() throws InterruptedException {
    SourceRun run = start(newSource(), "newSource()");
    run.awaitFirstTokenOrEnd(firstTokenTimeout());
    if (run.acceptedCount() == 0) {
      if (run.hasReturned()) {
        throw failure(
            "newSource()'s run() "
                + run.howItEnded()
                + " without sending a token; the kit needs a source that streams at least two"
                + " tokens.");
      }
      throw failure(
          "newSource() sent no token within firstTokenTimeout() = "
              + millis(firstTokenTimeout())
              + "."
              + run.workerStack()
              + "\nFix: make the fake upstream send its first token sooner, or override"
              + " firstTokenTimeout().");
    }
    return run;
  }

  /**
   * Cancels the stream on a separate thread, bounded by the stop bound, then waits (bounded too)
   * for the source's hooks, which run on the manager's delivery executor: a hook that blocks delays
   * the upstream abort it exists for, and fails the check.
   */
  private void cancel(SourceRun run, String when) throws InterruptedException {
    StreamHandle handle = run.handle();
    boolean[] cancelled = new boolean[1];
    Thread canceller =
        new Thread(
            () -> {
              run.markCancel();
              cancelled[0] = handle.cancel();
            },
            "conformance-canceller");
    canceller.setDaemon(true);
    canceller.start();
    canceller.join(stopBound().toMillis());
    if (canceller.isAlive()) {
      throw failure(
          "StreamHandle.cancel() did not return within "
              + millis(stopBound())
              + ": the manager must never wait for a hook."
              + SourceRun.stackOf(canceller));
    }
    Thread blocked = run.awaitHooks(stopBound());
    if (blocked != null) {
      throw failure(
          "an onCancel hook of the source did not return within "
              + millis(stopBound())
              + " of the cancel: it blocks, and so delays the upstream abort it exists for."
              + SourceRun.stackOf(blocked)
              + "\nFix: a hook must only close or abort the upstream (response.close(),"
              + " call.cancel()), never wait for it or drain it.");
    }
    if (!cancelled[0] || run.returnedBeforeCancel()) {
      throw failure(finishedTooSoon(run, "cancel it " + when));
    }
  }

  private String finishedTooSoon(SourceRun run, String action) {
    StreamOutcome outcome = run.outcomeNow();
    String how = outcome == null ? "ended" : "ended " + outcome.status();
    String cause = outcome != null && outcome.cause() != null ? " (" + outcome.cause() + ")" : "";
    return "newSource()'s stream "
        + how
        + cause
        + " after "
        + run.acceptedCount()
        + " token(s), before the kit could "
        + action
        + ". The kit needs a source that keeps streaming for at least stopBound() = "
        + millis(stopBound())
        + " after its first token."
        + "\nFix: make the fake upstream stream more tokens, more slowly (say 50 tokens, 20 ms"
        + " apart), or wait for upstream data that only comes when the test says so.";
  }

  private String didNotStop(SourceRun run, String when) {
    int sendsAfter = run.sendCalls() - run.acceptedAtCancel();
    return "the source was "
        + when
        + " but run() had not returned "
        + millis(stopBound())
        + " later; it still holds a worker thread (the manager reports it in"
        + " StreamCounters.ignoredCancellation), and its upstream may still be streaming."
        + " It called send "
        + Math.max(sendsAfter, 0)
        + " time(s) since the cancel ("
        + run.refusedSends()
        + " refused with StreamCancelledException), registered "
        + run.hooksRegistered()
        + " onCancel hook(s) and called isCancelled() "
        + run.isCancelledCalls()
        + " time(s)"
        + (run.howCancelBecameVisible() == null
            ? ""
            : ", and went on after it had seen the cancellation (" + run.howCancelBecameVisible() + ")")
        + "."
        + run.workerStack()
        + "\nFix: register sink.onCancel(...) to close the upstream so that a blocked read ends,"
        + " let StreamCancelledException and InterruptedException propagate, and check"
        + " sink.isCancelled() between upstream reads.";
  }

  private static String stopTime(SourceRun run) {
    long ms = run.millisFromCancelToReturn();
    return ms < 0 ? "" : " " + ms + " ms after the cancel";
  }

  private static AssertionError failure(String message) {
    return new AssertionError(message);
  }

  private static AssertionError failure(String message, @Nullable Throwable cause) {
    return new AssertionError(message, cause);
  }

  private static String millis(Duration d) {
    return d.toMillis() + " ms";
  }
}
