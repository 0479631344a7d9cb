package dev.sluice;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.LZ_Result;

/**
 * Resume racing the producer: a reader reads two tokens, detaches (policy {@code KEEP_RUNNING}) and
 * re-attaches with an earlier sequence number while the worker keeps sending. It must see no gap and
 * no duplicate: the replayed token from the replay window, then the rest, then the terminal.
 *
 * <p>Buffer 2 and replay window 2 give a ring of 4 slots, and six tokens wrap it: the replayed slot
 * must not be overwritten while the new reader may still read it.
 */
public final class Resume_01_RacingProducer {

  private Resume_01_RacingProducer() {}

  static final DefaultStreamManager MANAGER =
      Stress.manager(b -> b.bufferSize(2).replayWindow(2).detachPolicy(DetachPolicy.KEEP_RUNNING));

  @JCStressTest
  @Description("detach after two tokens, resume after the first, while the worker sends six")
  @Outcome(id = "1 2 | 2 3 4 5 6 COMPLETED, false", expect = ACCEPTABLE, desc = "token 2 replayed, then the rest, no gap")
  @Outcome(expect = FORBIDDEN, desc = "a gap, a duplicate, a stale slot, or no terminal")
  @State
  public static class ReplayWhileSending {
    final DefaultStream stream = Stress.stream(MANAGER, Stress.sending("1", "2", "3", "4", "5", "6"));
    final StreamReader first = stream.attach();

    @Actor
    public void worker(LZ_Result r) {
      stream.runWorker();
      r.r2 = Thread.interrupted();
      Stress.forget();
    }

    @Actor
    public void reader(LZ_Result r) {
      String seen = Stress.drainOne(first) + Stress.readToken(first, 2);
      first.close(); // detach, keep the stream running
      String rest;
      try (StreamReader again = stream.attach(1)) {
        rest = Stress.drain(again, 2);
      } catch (RuntimeException e) {
        rest = "RESUME_FAILED(" + e.getClass().getSimpleName() + ")";
      }
      r.r1 = seen + "| " + rest;
      Stress.forget();
    }
  }
}
