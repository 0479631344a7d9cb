package dev.sluice;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.LLL_Result;

/**
 * Issue 10, S1: the slow-reader timer racing the producer getting space never cuts a reader that
 * is not behind. {@code cutSlowReaders} reads and then rewrites {@code blockedSince} without a CAS,
 * and decides the cut from a {@code blockedSince} read before the tail: either way the clock can run
 * for a producer that is no longer blocked.
 *
 * <p>Same setup as {@link SlowReader_01_CutRacesEnd}: buffer 1, timeout 1 ns, DETACH, the last
 * reader detaching cancels; R has read nothing, t1 is published, the producer (a pooled thread)
 * is blocked sending t2 until R reads t1. Actors: the reader reading t1, and the timer firing twice. Once R
 * has read t1 the producer may send t2 and never blocks again, so R can never have held it back
 * afterwards: "t1, DETACHED" is a cut of a reader that was not behind.
 *
 * <p>Internal entry points: as in {@link SlowReader_01_CutRacesEnd}, the stream's timer task.
 */
public final class SlowReader_02_BlockedSinceRace {

  private SlowReader_02_BlockedSinceRace() {}

  @JCStressTest
  @Description("the slow-reader timer fires twice while the reader frees the producer")
  @Outcome(id = "t1, t2 NONE, sent", expect = ACCEPTABLE, desc = "not cut: the reader read in time")
  @Outcome(id = "DETACHED, -, refused", expect = ACCEPTABLE, desc = "cut while it held the producer back")
  @Outcome(id = "t1, DETACHED, sent", expect = FORBIDDEN, desc = "cut after it freed the producer (stale slow-reader clock)")
  @Outcome(expect = FORBIDDEN, desc = "anything else")
  @State
  public static class TimerRacesProducerGettingSpace {
    final DefaultStream stream = Stress.stream(SlowReader_01_CutRacesEnd.MANAGER, sink -> {});
    final StreamReader reader = stream.attach();
    final Runnable timer;
    final SlowReader_01_CutRacesEnd.BlockedProducer producer;

    public TimerRacesProducerGettingSpace() {
      stream.send("t1");
      producer = new SlowReader_01_CutRacesEnd.BlockedProducer(stream); // blocked on t2
      timer = SlowReader_01_CutRacesEnd.timerTask(stream, producer);
    }

    @Actor
    public void reader(LLL_Result r) {
      String first = Stress.readToken(reader, 1); // frees the producer
      r.r1 = first.startsWith("UNEXPECTED(Detached") ? "DETACHED" : first.trim();
    }

    @Actor
    public void timer() {
      timer.run();
      timer.run(); // the timer fires again later
      SlowReader_01_CutRacesEnd.LatestTimer.TASKS.remove(Thread.currentThread()); // holds the stream
    }

    @Arbiter
    public void arbiter(LLL_Result r) {
      r.r3 = producer.await();
      r.r2 = SlowReader_01_CutRacesEnd.transcript(reader);
    }
  }
}
