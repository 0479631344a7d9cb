package dev.sluice;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IL_Result;
import org.openjdk.jcstress.infra.results.LZ_Result;

/**
 * Invariant 6, no lost tokens: every token whose {@code send} returned normally reaches the reader
 * that stays attached, in order, before the terminal event. With a one-token buffer every token is a
 * hand-off between the producer (parking on a full buffer) and the reader (parking on an empty one),
 * so a lost wake-up or a lost publish shows up as a stuck or short transcript.
 */
public final class Invariant_06_NoLostTokens {

  private Invariant_06_NoLostTokens() {}

  static final DefaultStreamManager MANAGER = Stress.manager(b -> b.bufferSize(1));

  /** The real worker sends four tokens through a one-token buffer and completes. */
  @JCStressTest
  @Description("worker and reader hand four tokens through a one-token buffer")
  @Outcome(id = "a b c d COMPLETED, false", expect = ACCEPTABLE, desc = "every token, in order, then COMPLETED")
  @Outcome(expect = FORBIDDEN, desc = "a token lost, duplicated or reordered; no terminal; or a stuck side")
  @State
  public static class HandOff {
    final DefaultStream stream = Stress.stream(MANAGER, Stress.sending("a", "b", "c", "d"));
    final StreamReader reader = stream.attach();

    @Actor
    public void worker(LZ_Result r) {
      stream.runWorker();
      r.r2 = Thread.interrupted();
    }

    @Actor
    public void reader(LZ_Result r) {
      r.r1 = Stress.drain(reader, 1);
    }
  }

  /**
   * A producer sends three tokens through a one-token buffer; the reader reads the first, cancels,
   * and reads on. Every token whose send returned must be in the transcript, even though the stream
   * was cancelled: the count the producer saw and the transcript agree.
   */
  @JCStressTest
  @Description("tokens accepted before a cancel are all delivered")
  @Outcome(id = "1, a CANCELLED", expect = ACCEPTABLE, desc = "token 2 was refused by the cancel")
  @Outcome(id = "2, a b CANCELLED", expect = ACCEPTABLE, desc = "token 2 was in before the cancel")
  @Outcome(expect = FORBIDDEN, desc = "an accepted token lost, a refused one delivered, or the buffer overrun")
  @State
  public static class AcceptedBeforeCancel {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});
    final StreamReader reader = stream.attach();

    @Actor
    public void producer(IL_Result r) {
      int sent = 0;
      try {
        stream.send("a");
        sent++;
        stream.send("b");
        sent++;
        stream.send("c"); // needs the reader to take "b" first, which it does only after cancelling
        sent++;
      } catch (StreamCancelledException expected) {
        // refused
      }
      r.r1 = sent;
    }

    @Actor
    public void reader(IL_Result r) {
      String first = Stress.drainOne(reader);
      stream.cancel();
      r.r2 = first + Stress.drain(reader, 2);
    }
  }
}
