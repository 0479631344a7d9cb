package dev.sluice;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.time.Duration;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.LII_Result;
import org.openjdk.jcstress.infra.results.LI_Result;

/**
 * Invariant 5, cleanup exactly once, by its owner: removal from the registry happens exactly once —
 * by the reader the terminal event is delivered to, or by the retention timer, one CAS deciding —
 * and never while the stream is RUNNING.
 *
 * <p>Each state has a manager of its own (no threads: the executor and scheduler only hand their
 * tasks to the actors) so that its counters count this one stream: {@code retained} is 1 until the
 * stream is removed and must end at 0 (-1 would be a double removal), {@code evicted} counts removals
 * by the timer.
 */
public final class Invariant_05_CleanupExactlyOnce {

  private Invariant_05_CleanupExactlyOnce() {}

  /** Retention of 1 ns: a retention timer task always finds it passed (see {@link Stress#TICKER}). */
  static DefaultStreamManager newManager() {
    return Stress.manager(b -> b.retention(Duration.ofNanos(1)));
  }

  /**
   * The worker completes the stream and, as the timer thread, fires the retention timer the
   * completion scheduled; meanwhile the reader receives the terminal event, which removes the stream
   * on delivery.
   */
  @JCStressTest
  @Description("removal on delivery vs the retention timer")
  @Outcome(id = "COMPLETED, 0, 0", expect = ACCEPTABLE, desc = "removed once, by the reader")
  @Outcome(id = "COMPLETED, 0, 1", expect = ACCEPTABLE, desc = "removed once, by the retention timer")
  @Outcome(expect = FORBIDDEN, desc = "removed twice or never, still findable, or a bad transcript")
  @State
  public static class DeliveryVsRetentionTimer {
    final DefaultStreamManager manager = newManager();
    final String id;
    final Runnable workerTask;
    final StreamReader reader;

    public DeliveryVsRetentionTimer() {
      StreamHandle h = manager.submit(sink -> {});
      id = h.id();
      workerTask = Stress.takeWorker();
      reader = h.attach();
      Stress.forget();
    }

    @Actor
    public void worker() {
      workerTask.run(); // completes the stream: schedules retention (unless already removed)
      Runnable retention = Stress.pollTimer();
      if (retention != null) {
        retention.run();
      }
    }

    @Actor
    public void reader(LII_Result r) {
      r.r1 = Stress.drain(reader, 1);
    }

    @Arbiter
    public void registry(LII_Result r) {
      StreamCounters c = manager.counters();
      if (manager.find(id).isPresent()) {
        r.r1 = r.r1 + " FOUND";
      }
      r.r2 = (int) c.retained();
      r.r3 = (int) c.evicted();
    }
  }

  /**
   * A timer task scheduled while the stream ran (its no-reader timeout, far away) fires while a client
   * cancels: if it sees the stream ended it may remove it (retention is 1 ns), but never while RUNNING.
   */
  @JCStressTest
  @Description("the timer never removes a RUNNING stream, and removes an ended one once")
  @Outcome(id = "kept, 1", expect = ACCEPTABLE, desc = "the timer fired first: nothing to remove yet")
  @Outcome(id = "removed:CANCELLED, 0", expect = ACCEPTABLE, desc = "the timer removed the cancelled stream, once")
  @Outcome(expect = FORBIDDEN, desc = "removed while RUNNING, twice, or counted wrong")
  @State
  public static class TimerVsCancel {
    final DefaultStreamManager manager = newManager();
    final StreamHandle handle;
    final DefaultStream stream;
    final Runnable timerTask;

    public TimerVsCancel() {
      handle = manager.submit(sink -> {});
      stream = (DefaultStream) handle;
      timerTask = Stress.takeTimer(); // submit scheduled the no-reader timeout
      Stress.forget();
    }

    @Actor
    public void canceller() {
      handle.cancel();
      Stress.forget(); // the retention timer the cancel scheduled is not run
    }

    @Actor
    public void timer(LI_Result r) {
      timerTask.run();
      r.r1 = stream.isRemoved() ? "removed:" + stream.state() : "kept";
      Stress.forget();
    }

    @Arbiter
    public void registry(LI_Result r) {
      r.r2 = (int) manager.counters().retained();
      if (stream.isRemoved() == manager.find(handle.id()).isPresent()) {
        r.r1 = r.r1 + " REGISTRY-DISAGREES";
      }
    }
  }
}
