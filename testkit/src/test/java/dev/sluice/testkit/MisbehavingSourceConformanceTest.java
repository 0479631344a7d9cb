package dev.sluice.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import dev.sluice.TokenSink;
import dev.sluice.TokenSource;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.testkit.engine.EngineTestKit;

/**
 * One bug at a time, each in a small fixture, checked through {@link EngineTestKit}: the check that
 * should catch it fails with the message that names it. Complements {@link
 * LeakySourceConformanceTest}, whose source has every bug at once.
 */
@Timeout(30)
class MisbehavingSourceConformanceTest {

  private static final String SANITY = "run_leftAlone_completesWithTokensInOrder";
  private static final String STOP = "cancel_midStream_runEndsWithinStopBound";
  private static final String HOOK = "cancel_midStream_onCancelHookRan";
  private static final String NO_SEND = "cancel_midStream_noSendAfterCancellationVisible";
  private static final String FAILURE = "run_upstreamFails_streamEndsFailedWithCause";
  private static final String INTERRUPT = "interrupt_whileWaitingUpstream_runEndsWithinStopBound";

  /** Runs the named checks of {@code fixture}; results by method name. */
  private static Map<String, TestExecutionResult> run(Class<?> fixture, String... methods) {
    Map<String, TestExecutionResult> byMethod = new LinkedHashMap<>();
    EngineTestKit.engine("junit-jupiter")
        .configurationParameter(KitFixture.PARAMETER, "true")
        .selectors(Arrays.stream(methods).map(m -> selectMethod(fixture, m)).toArray(DiscoverySelector[]::new))
        .execute()
        .testEvents()
        .finished()
        .stream()
        .forEach(
            e ->
                byMethod.put(
                    e.getTestDescriptor()
                        .getSource()
                        .map(s -> ((MethodSource) s).getMethodName())
                        .orElseThrow(),
                    e.getRequiredPayload(TestExecutionResult.class)));
    return byMethod;
  }

  private static TestExecutionResult.Status status(Map<String, TestExecutionResult> r, String m) {
    return LeakySourceConformanceTest.result(r, m).getStatus();
  }

  // ---------------------------------------------------------------- no failing source

  /** The README example without the optional override. */
  @KitFixture
  static class NoFailingSource extends TokenSourceConformance {
    private final FakeProvider provider = new FakeProvider(Duration.ofMillis(10));

    @Override
    protected TokenSource newSource() {
      return new FakeProviderSource(provider, "a b c", 100);
    }
  }

  @Test
  void failureCheck_noFailingSource_isSkippedSayingWhatToOverride() {
    Map<String, TestExecutionResult> r = run(NoFailingSource.class, FAILURE, STOP);
    assertThat(status(r, STOP)).isEqualTo(TestExecutionResult.Status.SUCCESSFUL);
    TestExecutionResult skipped = LeakySourceConformanceTest.result(r, FAILURE);
    assertThat(skipped.getStatus()).isEqualTo(TestExecutionResult.Status.ABORTED);
    assertThat(skipped.getThrowable().orElseThrow().getMessage())
        .startsWith("Assumption failed: newFailingSource() is not overridden, so the failure check is skipped.");
  }

  // ---------------------------------------------------------------- too short for the kit

  /** Sends one token and returns: nothing to cancel mid-stream. */
  @KitFixture
  static class TooShort extends TokenSourceConformance {
    @Override
    protected TokenSource newSource() {
      return sink -> sink.send("only");
    }
  }

  /**
   * The sanity and interrupt checks say so whatever the timing. (The cancel checks usually do too,
   * but a cancel may race with the source returning and win, so they are not asserted here.)
   */
  @Test
  void requirements_sourceTooShort_failSayingTheSourceMustStreamLonger() {
    Map<String, TestExecutionResult> r = run(TooShort.class, SANITY, INTERRUPT);
    assertThat(LeakySourceConformanceTest.message(r, SANITY))
        .startsWith("newSource() streamed 1 token(s); the kit needs at least 2");
    // Finished before the interrupt, or returned normally right after it: both say "too short".
    assertThat(LeakySourceConformanceTest.message(r, INTERRUPT))
        .containsPattern("(before the kit could interrupt it|run\\(\\) returned normally)")
        .contains("keeps streaming for at least stopBound() = 2000 ms after its first token");
  }

  // ---------------------------------------------------------------- a hook that blocks

  /** Closes its upstream, but its hook waits (for a drain, say) instead of only closing. */
  @KitFixture
  static class BlockingHook extends TokenSourceConformance {
    private final FakeProvider provider = new FakeProvider(Duration.ofMillis(10));

    @Override
    protected TokenSource newSource() {
      return sink -> {
        try (FakeProvider.Response response = provider.stream("a b c", 100)) {
          CountDownLatch drained = new CountDownLatch(1);
          Runnable close = response::close;
          sink.onCancel(
              () -> {
                try {
                  drained.await(1, TimeUnit.SECONDS); // never counted down: blocks the abort
                } catch (InterruptedException e) {
                  Thread.currentThread().interrupt();
                }
                close.run();
              });
          for (String t; (t = response.read()) != null; ) {
            sink.send(t);
          }
        }
      };
    }

    @Override
    protected Duration stopBound() {
      return Duration.ofMillis(200);
    }
  }

  @Test
  void hookCheck_hookBlocks_failsShowingWhereTheHookWaits() {
    Map<String, TestExecutionResult> r = run(BlockingHook.class, HOOK);
    assertThat(LeakySourceConformanceTest.message(r, HOOK))
        .startsWith("an onCancel hook of the source did not return within 200 ms of the cancel: it blocks")
        .contains(" is at:")
        .contains("CountDownLatch.await")
        .contains("never wait for it or drain it");
  }

  // ---------------------------------------------------------------- a hook that throws

  @KitFixture
  static class ThrowingHook extends TokenSourceConformance {
    private final FakeProvider provider = new FakeProvider(Duration.ofMillis(10));

    @Override
    protected TokenSource newSource() {
      return sink -> {
        try (FakeProvider.Response response = provider.stream("a b c", 100)) {
          Runnable close = response::close;
          sink.onCancel(
              () -> {
                close.run();
                throw new IllegalStateException("connection pool already shut down");
              });
          for (String t; (t = response.read()) != null; ) {
            sink.send(t);
          }
        }
      };
    }
  }

  @Test
  void hookCheck_hookThrows_failsWithTheHooksException() {
    Map<String, TestExecutionResult> r = run(ThrowingHook.class, HOOK);
    assertThat(LeakySourceConformanceTest.message(r, HOOK))
        .startsWith("the source's onCancel hook threw java.lang.IllegalStateException: connection pool already shut down;");
    assertThat(LeakySourceConformanceTest.result(r, HOOK).getThrowable().orElseThrow().getCause())
        .hasMessage("connection pool already shut down");
  }

  // ---------------------------------------------------------------- a send after isCancelled()

  /** Polls isCancelled() and stops on an interrupt, then sends a "[cancelled]" marker anyway. */
  @KitFixture
  static class SendsAfterIsCancelled extends TokenSourceConformance {
    @Override
    protected TokenSource newSource() {
      return new TokenSource() {
        @Override
        public void run(TokenSink sink) {
          for (int i = 0; i < 100 && !sink.isCancelled(); i++) {
            try {
              Thread.sleep(10);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
              break;
            }
            sink.send("t" + i);
          }
          if (sink.isCancelled()) {
            sink.send("[cancelled]"); // the bug: tell the reader, through a refused send
          }
        }
      };
    }
  }

  @Test
  void sendCheck_sendAfterIsCancelledTrue_failsNamingTheToken() {
    Map<String, TestExecutionResult> r = run(SendsAfterIsCancelled.class, NO_SEND);
    assertThat(LeakySourceConformanceTest.message(r, NO_SEND))
        .startsWith("the source called send 1 time(s) after it had seen its stream cancelled"
            + " (isCancelled() returned true), starting with \"[cancelled]\";");
  }

  // ---------------------------------------------------------------- interrupt turned into success

  /** Stops on an interrupt and keeps the flag, but returns normally: still a truncated COMPLETED. */
  @KitFixture
  static class InterruptEndsNormallyKeepingTheFlag extends TokenSourceConformance {
    @Override
    protected TokenSource newSource() {
      return sink -> {
        try {
          for (int i = 0; i < 100; i++) {
            Thread.sleep(10);
            sink.send("t" + i);
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt(); // the textbook idiom, but then it returns normally
        }
      };
    }
  }

  @Test
  void interruptCheck_interruptEndsNormallyKeepingTheFlag_failsAsReportedComplete() {
    Map<String, TestExecutionResult> r = run(InterruptEndsNormallyKeepingTheFlag.class, INTERRUPT);
    assertThat(LeakySourceConformanceTest.message(r, INTERRUPT))
        .matches("(?s)run\\(\\) returned normally \\d+ ms after its worker thread was interrupted"
            + " \\(at token \\d+\\), and the stream ended COMPLETED\\. Either it stopped on the"
            + " interrupt but reported a complete answer.*");
  }

  /** Catches InterruptedException and returns normally: a truncated answer reported COMPLETED. */
  @KitFixture
  static class InterruptEndsNormally extends TokenSourceConformance {
    @Override
    protected TokenSource newSource() {
      return sink -> {
        try {
          for (int i = 0; i < 100; i++) {
            Thread.sleep(10);
            sink.send("t" + i);
          }
        } catch (InterruptedException e) {
          // swallowed: "we were asked to stop, so we are done"
        }
      };
    }
  }

  @Test
  void interruptCheck_interruptEndsNormally_failsAsSwallowed() {
    Map<String, TestExecutionResult> r = run(InterruptEndsNormally.class, INTERRUPT);
    assertThat(LeakySourceConformanceTest.message(r, INTERRUPT))
        .matches("(?s)run\\(\\) returned normally \\d+ ms after its worker thread was interrupted"
            + " \\(at token \\d+\\), with the interrupt flag cleared: it swallowed the interrupt,"
            + " and the stream ended COMPLETED as if its answer were complete\\..*");
  }
}
