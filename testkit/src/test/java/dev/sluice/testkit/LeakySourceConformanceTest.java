package dev.sluice.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.sluice.TokenSource;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;

/**
 * Runs the kit against {@link LeakySource} with JUnit Platform's {@link EngineTestKit} and checks
 * that every one of the five checks fails, with a message that names the bug and the fix, while the
 * sanity check passes (the kit does not just fail everything).
 */
@Timeout(30)
class LeakySourceConformanceTest {

  /** The kit applied to the leaky source; only {@link #runKit()} runs it (see {@link KitFixture}). */
  @KitFixture
  static class Fixture extends TokenSourceConformance {
    @Override
    protected TokenSource newSource() {
      return new LeakySource(60, Duration.ofMillis(20), -1); // 1.2 s, far beyond the bound
    }

    @Override
    protected TokenSource newFailingSource() {
      return new LeakySource(60, Duration.ofMillis(20), 3);
    }

    @Override
    protected Duration stopBound() {
      return Duration.ofMillis(300); // keeps the expected failures fast
    }
  }

  private static final Map<String, TestExecutionResult> results = new LinkedHashMap<>();

  @BeforeAll
  static void runKit() {
    results.putAll(run(Fixture.class));
  }

  /** Runs {@code fixture} on the Jupiter engine; results by test method name. */
  static Map<String, TestExecutionResult> run(Class<?> fixture) {
    Map<String, TestExecutionResult> byMethod = new LinkedHashMap<>();
    EngineTestKit.engine("junit-jupiter")
        .configurationParameter(KitFixture.PARAMETER, "true")
        .selectors(selectClass(fixture))
        .execute()
        .testEvents()
        .finished()
        .stream()
        .forEach(e -> byMethod.put(methodName(e), e.getRequiredPayload(TestExecutionResult.class)));
    return byMethod;
  }

  private static String methodName(Event e) {
    return e.getTestDescriptor()
        .getSource()
        .filter(MethodSource.class::isInstance)
        .map(s -> ((MethodSource) s).getMethodName())
        .orElseThrow();
  }

  static TestExecutionResult result(Map<String, TestExecutionResult> results, String method) {
    TestExecutionResult r = results.get(method);
    if (r == null) {
      throw new AssertionError("no result for " + method + " in " + results.keySet());
    }
    return r;
  }

  static String message(Map<String, TestExecutionResult> results, String method) {
    TestExecutionResult r = result(results, method);
    assertThat(r.getStatus()).as("status of %s", method).isEqualTo(TestExecutionResult.Status.FAILED);
    Optional<Throwable> t = r.getThrowable();
    assertThat(t).as("%s failed with an exception", method).isPresent();
    assertThat(t.get()).as("%s failed by an assertion of the kit", method).isInstanceOf(AssertionError.class);
    return String.valueOf(t.get().getMessage());
  }

  @Test
  void kit_leakySource_runsAllSevenChecks() {
    assertThat(results).hasSize(7);
  }

  @Test
  void sanity_leakySource_passes() {
    assertThat(result(results, "run_leftAlone_completesWithTokensInOrder").getStatus())
        .isEqualTo(TestExecutionResult.Status.SUCCESSFUL);
  }

  @Test
  void stopCheck_cancelMidStream_failsNamingTheWorker() {
    assertThat(message(results, "cancel_midStream_runEndsWithinStopBound"))
        .containsPattern("^the source was cancelled mid-stream \\(after token \\d+\\) but run\\(\\) had not"
            + " returned 300 ms later;")
        .contains("StreamCounters.ignoredCancellation")
        .contains("registered 0 onCancel hook(s)")
        .contains("LeakySource.readUpstream")
        .contains("Fix: register sink.onCancel(...) to close the upstream");
  }

  @Test
  void stopCheck_cancelBeforeFirstToken_fails() {
    assertThat(message(results, "cancel_beforeFirstToken_runEndsWithinStopBound"))
        .containsPattern("^the source was cancelled (before its first token|as soon as run\\(\\) was"
            + " entered \\(after token \\d+\\)) but run\\(\\) had not returned 300 ms later;");
  }

  @Test
  void hookCheck_noHook_failsSayingTokensAreStillBilled() {
    assertThat(message(results, "cancel_midStream_onCancelHookRan"))
        .containsPattern("^the source registered no onCancel hook before its stream was cancelled"
            + " \\(after token \\d+\\),")
        .contains("billing")
        .contains("Fix: right after opening the upstream call, register sink.onCancel(response::close)");
  }

  @Test
  void sendCheck_swallowedCancellation_failsNamingTheLateToken() {
    assertThat(message(results, "cancel_midStream_noSendAfterCancellationVisible"))
        .matches("(?s)the source called send \\d+ time\\(s\\) after it had seen its stream cancelled"
            + " \\(send threw StreamCancelledException\\), starting with \"leak#\\d+\"; .*")
        .contains("Fix: let StreamCancelledException propagate out of run()");
  }

  @Test
  void failureCheck_returnsNormally_failsAsTruncatedCompletion() {
    assertThat(message(results, "run_upstreamFails_streamEndsFailedWithCause"))
        .startsWith("newFailingSource()'s stream ended COMPLETED with 3 token(s): run() returned normally although its upstream failed")
        .contains("Fix: throw from run() when the upstream fails");
  }

  @Test
  void interruptCheck_loopsOnInterrupt_failsAsSwallowed() {
    assertThat(message(results, "interrupt_whileWaitingUpstream_runEndsWithinStopBound"))
        .matches("(?s)the source was still running 300 ms after its worker thread was interrupted"
            + " \\(at token \\d+\\); it sent \\d+ more token\\(s\\) since\\..*")
        .contains("It swallows the interrupt")
        .contains("Fix: let InterruptedException propagate out of run()");
  }
}
