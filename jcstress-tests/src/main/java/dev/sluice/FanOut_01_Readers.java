package dev.sluice;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.LL_Result;

/**
 * Fan-out (issue 4): several readers of one stream each get every token in order and exactly one
 * terminal event, last, whatever the cancellation and the attach race with.
 */
public class FanOut_01_Readers {

  private FanOut_01_Readers() {}

  static final DefaultStreamManager MANAGER = Stress.manager(b -> b.bufferSize(4));

  /**
   * Two readers race a producer that sends "b" and then cancels. Reader A reads concurrently with
   * both; reader B reads after. The terminal's token count is decided once, so both must read
   * "a b" and then one CANCELLED.
   */
  @JCStressTest
  @Outcome(id = "a b CANCELLED, a b CANCELLED", expect = ACCEPTABLE, desc = "both readers: every token, then one terminal")
  @Outcome(expect = FORBIDDEN, desc = "a lost token, a missing or second terminal, or readers disagreeing")
  @State
  public static class TwoReadersRacingCancel {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});
    final StreamReader a = stream.attach();
    final StreamReader b = stream.attach();

    public TwoReadersRacingCancel() {
      stream.send("a");
    }

    @Actor
    public void readerA(LL_Result r) {
      r.r1 = Stress.drain(a, 1);
    }

    @Actor
    public void producerThenReaderB(LL_Result r) {
      stream.send("b");
      stream.cancel();
      r.r2 = Stress.drain(b, 1);
    }
  }

  /**
   * A reader attaches (from the start) while the stream is being cancelled; a reader attached
   * before reads after both. Each gets "a" and exactly one CANCELLED terminal, never nothing.
   */
  @JCStressTest
  @Outcome(id = "a CANCELLED, a CANCELLED", expect = ACCEPTABLE, desc = "the late reader gets the terminal exactly once")
  @Outcome(expect = FORBIDDEN, desc = "no terminal, two terminals, a lost token, or a failed attach")
  @State
  public static class AttachDuringCancel {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});
    final StreamReader early = stream.attach();

    public AttachDuringCancel() {
      stream.send("a");
    }

    @Actor
    public void canceller() {
      stream.cancel();
    }

    @Actor
    public void lateReader(LL_Result r) {
      try (StreamReader late = stream.attach()) {
        r.r1 = Stress.drain(late, 1);
      } catch (RuntimeException e) {
        r.r1 = e.getClass().getSimpleName();
      }
    }

    @Arbiter
    public void earlyReader(LL_Result r) {
      r.r2 = Stress.drain(early, 1); // after both actors: the stream is cancelled

    }
  }

  /**
   * A reader attaches while the stream completes (the worker's transition). It gets both tokens and
   * exactly one COMPLETED terminal.
   */
  @JCStressTest
  @Outcome(id = "a b COMPLETED, true", expect = ACCEPTABLE, desc = "every token, then the terminal exactly once")
  @Outcome(expect = FORBIDDEN, desc = "no terminal, two terminals, a lost token, or a failed attach")
  @State
  public static class AttachDuringCompletion {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});

    public AttachDuringCompletion() {
      stream.send("a");
      stream.send("b");
    }

    @Actor
    public void worker(LL_Result r) {
      r.r2 = stream.terminate(DefaultStream.S_COMPLETED, null, null);
    }

    @Actor
    public void lateReader(LL_Result r) {
      try (StreamReader late = stream.attach()) {
        r.r1 = Stress.drain(late, 1);
      } catch (RuntimeException e) {
        r.r1 = e.getClass().getSimpleName();
      }
    }
  }
}
