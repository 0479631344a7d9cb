package dev.sluice;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.ZLZ_Result;
import org.openjdk.jcstress.infra.results.ZZL_Result;

/**
 * Invariant 1, one terminal transition: cancel racing complete, fail, timeout or another cancel —
 * exactly one wins, and every observer (the state, the outcome future, a reader attached before the
 * race) reports the winner's status.
 *
 * <p>The arbiter reports one status if all observers agree, else {@code state=..,outcome=..,reader=..}.
 * A cancel that returns true while another status wins is "both won"; a cancel that returns false
 * while the stream is still RUNNING is "none won". Both are forbidden, as is any disagreement.
 */
public final class Invariant_01_OneTerminalTransition {

  private Invariant_01_OneTerminalTransition() {}

  /** One shared manager; streams are created per state and driven by the actors. */
  static final DefaultStreamManager MANAGER = Stress.manager(b -> b.deadline(java.time.Duration.ofNanos(1)));

  /** The status every observer agrees on, or what each one says. */
  static String agreed(DefaultStream s, StreamReader reader) {
    StreamHandle.State state = s.state();
    String outcome = Stress.outcomeNow(s);
    String read = Stress.terminalNow(reader);
    boolean stateMatches =
        state == StreamHandle.State.CANCELLED
            ? outcome.equals("CANCELLED")
            : state == StreamHandle.State.DONE && !outcome.equals("CANCELLED") && !outcome.equals("INCOMPLETE");
    if (stateMatches && outcome.equals(read)) {
      return outcome;
    }
    return "state=" + state + ",outcome=" + outcome + ",reader=" + read;
  }

  /** The real worker runs a source that returns at once (completes) while a client cancels. */
  @JCStressTest
  @Description("cancel() vs the worker completing the stream")
  @Outcome(id = "true, CANCELLED, false", expect = ACCEPTABLE, desc = "cancel won; all see CANCELLED")
  @Outcome(id = "false, COMPLETED, false", expect = ACCEPTABLE, desc = "completion won; all see COMPLETED")
  @Outcome(expect = FORBIDDEN, desc = "both won, none won, observers disagree, or an interrupt leaked")
  @State
  public static class CancelVsComplete {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});
    final StreamReader reader = stream.attach();

    @Actor
    public void canceller(ZLZ_Result r) {
      r.r1 = stream.cancel();
    }

    @Actor
    public void worker(ZLZ_Result r) {
      stream.runWorker();
      r.r3 = Thread.interrupted(); // the cancel's interrupt must not outlive the source
    }

    @Arbiter
    public void observers(ZLZ_Result r) {
      r.r2 = agreed(stream, reader);
    }
  }

  /** The real worker runs a source that throws (fails) while a client cancels. */
  @JCStressTest
  @Description("cancel() vs the worker failing the stream")
  @Outcome(id = "true, CANCELLED, false", expect = ACCEPTABLE, desc = "cancel won; all see CANCELLED")
  @Outcome(id = "false, FAILED, false", expect = ACCEPTABLE, desc = "failure won; all see FAILED")
  @Outcome(expect = FORBIDDEN, desc = "both won, none won, observers disagree, or an interrupt leaked")
  @State
  public static class CancelVsFail {
    static final RuntimeException BOOM = new IllegalStateException("upstream failed");

    final DefaultStream stream =
        Stress.stream(
            MANAGER,
            sink -> {
              throw BOOM;
            });
    final StreamReader reader = stream.attach();

    @Actor
    public void canceller(ZLZ_Result r) {
      r.r1 = stream.cancel();
    }

    @Actor
    public void worker(ZLZ_Result r) {
      stream.runWorker();
      r.r3 = Thread.interrupted();
    }

    @Arbiter
    public void observers(ZLZ_Result r) {
      r.r2 = agreed(stream, reader);
    }
  }

  /**
   * The stream's real timer task (deadline 1 ns, already passed when it runs) fires on one thread
   * while a client cancels on another.
   */
  @JCStressTest
  @Description("cancel() vs the deadline timer")
  @Outcome(id = "true, CANCELLED, false", expect = ACCEPTABLE, desc = "cancel won; all see CANCELLED")
  @Outcome(id = "false, TIMED_OUT, false", expect = ACCEPTABLE, desc = "timeout won; all see TIMED_OUT")
  @Outcome(expect = FORBIDDEN, desc = "both won, none won, or observers disagree")
  @State
  public static class CancelVsTimeout {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});
    final StreamReader reader = stream.attach();
    final Runnable deadlineTimer;

    public CancelVsTimeout() {
      stream.scheduleNext(Stress.TICKER.read());
      deadlineTimer = Stress.takeTimer();
    }

    @Actor
    public void canceller(ZLZ_Result r) {
      r.r1 = stream.cancel();
    }

    @Actor
    public void timer(ZLZ_Result r) {
      deadlineTimer.run();
      r.r3 = false;
    }

    @Arbiter
    public void observers(ZLZ_Result r) {
      r.r2 = agreed(stream, reader);
      Stress.forget();
    }
  }

  /** Two clients cancel the same stream. */
  @JCStressTest
  @Description("cancel() vs cancel()")
  @Outcome(id = "true, false, CANCELLED", expect = ACCEPTABLE, desc = "the first canceller won")
  @Outcome(id = "false, true, CANCELLED", expect = ACCEPTABLE, desc = "the second canceller won")
  @Outcome(expect = FORBIDDEN, desc = "both won, none won, or observers disagree")
  @State
  public static class CancelVsCancel {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});
    final StreamReader reader = stream.attach();

    @Actor
    public void canceller1(ZZL_Result r) {
      r.r1 = stream.cancel();
    }

    @Actor
    public void canceller2(ZZL_Result r) {
      r.r2 = stream.cancel();
    }

    @Arbiter
    public void observers(ZZL_Result r) {
      r.r3 = agreed(stream, reader);
    }
  }
}
