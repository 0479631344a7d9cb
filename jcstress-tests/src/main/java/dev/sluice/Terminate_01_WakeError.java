package dev.sluice;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.util.concurrent.Executor;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Mode;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.Signal;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.LLL_Result;

/**
 * Issue 10, D4: the terminal transition is failure-atomic. When cancel() wakes a Flow subscriber
 * (attached first) and the delivery executor throws an Error ({@code OutOfMemoryError: unable to
 * create native thread}), the rest still happens: the producer blocked in send and the other,
 * blocking reader are woken, the hooks run, the outcome completes, and cancel() does not throw.
 *
 * <p>The delivery executor runs drains inline, except on a thread that armed it (the canceller),
 * where it throws. {@code Mode.Termination}: the blocked actor must return once the signal cancels.
 */
public final class Terminate_01_WakeError {

  private Terminate_01_WakeError() {}

  private static final ThreadLocal<Boolean> ARMED = ThreadLocal.withInitial(() -> Boolean.FALSE);

  /** Runs drains inline; throws the Error on an armed thread. */
  static final Executor DELIVERY =
      task -> {
        if (ARMED.get()) {
          throw new OutOfMemoryError("unable to create native thread");
        }
        task.run();
      };

  static final DefaultStreamManager MANAGER =
      Stress.manager(b -> b.bufferSize(1).deliveryExecutor(DELIVERY));

  /** A subscriber that requests nothing: it only gates the producer and must be woken on the end. */
  static final class Idle implements Flow.Subscriber<StreamEvent> {
    @Override
    public void onSubscribe(Flow.Subscription s) {}

    @Override
    public void onNext(StreamEvent item) {}

    @Override
    public void onError(Throwable t) {}

    @Override
    public void onComplete() {}
  }

  /** cancel() on an armed thread; "ok" or what it threw. */
  static String armedCancel(StreamHandle h) {
    ARMED.set(Boolean.TRUE);
    try {
      h.cancel();
      return "ok";
    } catch (Throwable e) {
      return "threw " + e.getClass().getSimpleName();
    } finally {
      ARMED.set(Boolean.FALSE);
    }
  }

  @JCStressTest(Mode.Termination)
  @Description("cancel() whose Flow wake-up throws an Error still releases a producer blocked in send")
  @Outcome(id = "TERMINATED", expect = ACCEPTABLE, desc = "the producer was released")
  @Outcome(id = "STALE", expect = FORBIDDEN, desc = "the Error skipped the producer's wake-up")
  @State
  public static class ProducerWoken {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});

    public ProducerWoken() {
      stream.publisher().subscribe(new Idle()); // first reader: gates at 0
      stream.send("t1");
    }

    @Actor
    public void producer() {
      try {
        stream.send("t2"); // blocks: the subscriber requested nothing
      } catch (StreamCancelledException expected) {
        // released
      }
    }

    @Signal
    public void canceller() {
      armedCancel(stream);
    }
  }

  @JCStressTest(Mode.Termination)
  @Description("cancel() whose Flow wake-up throws an Error still wakes another, blocked reader")
  @Outcome(id = "TERMINATED", expect = ACCEPTABLE, desc = "the reader got its terminal event")
  @Outcome(id = "STALE", expect = FORBIDDEN, desc = "the Error skipped the reader's wake-up")
  @State
  public static class OtherReaderWoken {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});
    final StreamReader other;

    public OtherReaderWoken() {
      stream.publisher().subscribe(new Idle()); // first in the fan-out: woken first
      other = stream.attach();
      stream.send("t1");
      Stress.drainOne(other); // now it has nothing to read until the end
    }

    @Actor
    public void reader() {
      try {
        other.next(); // untimed: only a wake-up ends it
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }

    @Signal
    public void canceller() {
      armedCancel(stream);
    }
  }

  /**
   * The rest of the transition after an armed cancel: cancel() does not throw, the outcome
   * completes and the hook runs (each waited for up to a second: a core may run them on another
   * thread).
   */
  @JCStressTest
  @Description("cancel() whose Flow wake-up throws an Error still runs hooks and completes the outcome")
  @Outcome(id = "ok, CANCELLED, hook ran", expect = ACCEPTABLE, desc = "the transition completed")
  @Outcome(expect = FORBIDDEN, desc = "cancel() threw, the outcome stayed incomplete, or the hook was skipped")
  @State
  public static class Settles {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});
    volatile boolean hookRan;

    public Settles() {
      stream.publisher().subscribe(new Idle());
      stream.onCancel(() -> hookRan = true);
      stream.send("t1");
    }

    @Actor
    public void canceller(LLL_Result r) {
      r.r1 = armedCancel(stream);
    }

    @Arbiter
    public void arbiter(LLL_Result r) {
      try {
        r.r2 = stream.outcome().toCompletableFuture().get(1, TimeUnit.SECONDS).status().name();
      } catch (TimeoutException e) {
        r.r2 = "INCOMPLETE";
      } catch (Exception e) {
        r.r2 = e.getClass().getSimpleName();
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
      while (!hookRan && System.nanoTime() < deadline) {
        Thread.onSpinWait();
      }
      r.r3 = hookRan ? "hook ran" : "no hook";
    }
  }
}
