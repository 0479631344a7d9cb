package dev.sluice;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.LL_Result;
import org.openjdk.jcstress.infra.results.LZ_Result;

/**
 * Resume racing the producer: a reader that re-attaches with the last sequence number it saw gets the
 * rest of the stream with no gap and no duplicate, while the producer keeps sending, and also after
 * the stream ended.
 *
 * <p>Buffer 2 and replay window 2 give a ring of 4 slots, so a few tokens already wrap it: a replayed
 * slot must never hold anything but the token of its sequence number.
 */
public final class Resume_01_RacingProducer {

  private Resume_01_RacingProducer() {}

  static final DefaultStreamManager MANAGER =
      Stress.manager(b -> b.bufferSize(2).replayWindow(2).detachPolicy(DetachPolicy.KEEP_RUNNING));

  /**
   * A reader reads two tokens, detaches (policy {@code KEEP_RUNNING}) and re-attaches after the first
   * while the worker sends six: it gets token 2 again from the replay window, then 3-6, then the
   * terminal.
   */
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

  /**
   * A reader read tokens 1-4 and left (the stream keeps running); the producer's fifth send races a
   * cancel; then a client re-attaches from the start of the ended stream. With buffer 2 and replay
   * window 2 the ring has 4 slots, so token 5 would go into token 1's slot: if the fifth token was
   * accepted, token 1 is gone and the resume must say so ({@link EventsDroppedException}); if it was
   * refused, token 1 must read as "1" (or be reported dropped) — never as the refused token's text.
   *
   * <p>Found a core bug: {@code send} writes its slot before the CAS that publishes it, so a send
   * refused by the seal leaves its text in the slot of token {@code count + 1 - ringSize}; {@code
   * attach} on an ended stream treats the whole ring ({@code count - mask} and up) as retained and
   * replays that slot: {@code "refused, 5 2 3 4 CANCELLED"}.
   */
  @JCStressTest
  @Description("resume from the start after the end, when the last send raced the cancel")
  @Outcome(id = "refused, 1 2 3 4 CANCELLED", expect = ACCEPTABLE, desc = "token 5 refused; the resume replays 1-4")
  @Outcome(id = "sent, DROPPED", expect = ACCEPTABLE, desc = "token 5 accepted over token 1's slot; resume says dropped")
  @Outcome(id = "refused, DROPPED", expect = ACCEPTABLE, desc = "token 5 refused; resume conservatively says dropped")
  @Outcome(id = "refused, 5 2 3 4 CANCELLED", expect = FORBIDDEN, desc = "the refused token was replayed as token 1")
  @Outcome(expect = FORBIDDEN, desc = "a gap, a duplicate, a stale slot, or no terminal")
  @State
  public static class ResumeAfterEndRacingRefusedSend {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});

    public ResumeAfterEndRacingRefusedSend() {
      try (StreamReader first = stream.attach()) {
        stream.send("1");
        stream.send("2");
        String seen = Stress.readToken(first, 1) + Stress.readToken(first, 2);
        stream.send("3");
        stream.send("4");
        seen += Stress.readToken(first, 3) + Stress.readToken(first, 4);
        if (!seen.equals("1 2 3 4 ")) {
          throw new AssertionError("set-up read " + seen);
        }
      } // detached; KEEP_RUNNING: the stream runs on with no reader
      Stress.forget();
    }

    @Actor
    public void producer(LL_Result r) {
      try {
        stream.send("5"); // fits: the gate is at 4, the buffer holds 2
        r.r1 = "sent";
      } catch (StreamCancelledException e) {
        r.r1 = "refused";
      }
    }

    @Actor
    public void canceller() {
      stream.cancel();
    }

    @Arbiter
    public void resumer(LL_Result r) {
      try (StreamReader again = stream.attach(0)) {
        r.r2 = Stress.drain(again, 1);
      } catch (EventsDroppedException e) {
        r.r2 = "DROPPED";
      }
    }
  }
}
