package dev.sluice;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Mode;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.Signal;
import org.openjdk.jcstress.annotations.State;

/**
 * Invariant 7, the last gasp never blocks: the thread that cancels, completes or times out a stream
 * returns while no reader is attached and the buffer is full, and the terminal event is there for a
 * reader that comes later.
 *
 * <p>{@code Mode.Termination}: the signal does nothing — the reader never comes — so an emit that
 * waited for room or for a reader would be reported {@code STALE}. After the actor returns it checks
 * that a late reader gets the buffered token and then the terminal event; anything else throws, which
 * jcstress reports as an error.
 */
public final class Invariant_07_LastGaspNeverBlocks {

  private Invariant_07_LastGaspNeverBlocks() {}

  static final DefaultStreamManager MANAGER =
      Stress.manager(b -> b.bufferSize(1).deadline(java.time.Duration.ofNanos(1)));

  /** A stream whose one-token buffer is full and that has no reader. */
  static DefaultStream fullStream(TokenSource source) {
    DefaultStream s = Stress.stream(MANAGER, source);
    s.send("a");
    return s;
  }

  static void lateReaderGets(DefaultStream s, String expected) {
    String transcript;
    try (StreamReader reader = s.attach()) {
      transcript = Stress.drain(reader, 1);
    }
    if (!transcript.equals(expected)) {
      throw new AssertionError("late reader read \"" + transcript + "\", expected \"" + expected + "\"");
    }
  }

  @JCStressTest(Mode.Termination)
  @Description("cancel() with a full buffer and no reader returns")
  @Outcome(id = "TERMINATED", expect = ACCEPTABLE, desc = "the cancel's terminal emit did not block")
  @Outcome(id = "STALE", expect = FORBIDDEN, desc = "the canceller blocked on the terminal emit")
  @State
  public static class Cancel {
    final DefaultStream stream = fullStream(sink -> {});

    @Actor
    public void canceller() {
      if (!stream.cancel()) {
        throw new AssertionError("cancel lost, but nothing else ends this stream");
      }
      lateReaderGets(stream, "a CANCELLED");
    }

    @Signal
    public void readerNeverComes() {}
  }

  @JCStressTest(Mode.Termination)
  @Description("completion with a full buffer and no reader returns")
  @Outcome(id = "TERMINATED", expect = ACCEPTABLE, desc = "the worker's terminal emit did not block")
  @Outcome(id = "STALE", expect = FORBIDDEN, desc = "the worker blocked on the terminal emit")
  @State
  public static class Complete {
    // The source's only token fills the buffer, then it returns: the worker completes the stream.
    final DefaultStream stream = Stress.stream(MANAGER, Stress.sending("a"));

    @Actor
    public void worker() {
      stream.runWorker();
      Stress.forget();
      lateReaderGets(stream, "a COMPLETED");
    }

    @Signal
    public void readerNeverComes() {}
  }

  @JCStressTest(Mode.Termination)
  @Description("the deadline timer with a full buffer and no reader returns")
  @Outcome(id = "TERMINATED", expect = ACCEPTABLE, desc = "the timer's terminal emit did not block")
  @Outcome(id = "STALE", expect = FORBIDDEN, desc = "the timer thread blocked on the terminal emit")
  @State
  public static class Timeout {
    final DefaultStream stream = fullStream(sink -> {});
    final Runnable deadlineTimer;

    public Timeout() {
      stream.scheduleNext(Stress.TICKER.read());
      deadlineTimer = Stress.takeTimer();
    }

    @Actor
    public void timer() {
      deadlineTimer.run();
      Stress.forget();
      lateReaderGets(stream, "a TIMED_OUT");
    }

    @Signal
    public void readerNeverComes() {}
  }
}
