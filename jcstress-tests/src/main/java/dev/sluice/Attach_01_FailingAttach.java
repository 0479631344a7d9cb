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
import org.openjdk.jcstress.infra.results.LLL_Result;
import org.openjdk.jcstress.infra.results.LL_Result;

/**
 * Issue 10, D1: a <em>failing</em> attach raced against the producer and against the last reader's
 * close, as every successful one is. A rejected attach must leave the producer's permission as it
 * was (never more than the slowest valid reader's position plus bufferSize), must never park the
 * producer for good, and must never keep alive a stream whose last valid reader left under
 * {@link DetachPolicy#CANCEL}.
 *
 * <p>Tokens are "t" + their sequence number; the valid reader checks every one it reads. A reader
 * that waits more than {@link #PATIENCE} for a token reports {@code STUCK@seq} and then cancels the
 * stream, so that a producer parked for good is released and the test goes on.
 */
public final class Attach_01_FailingAttach {

  private Attach_01_FailingAttach() {}

  static final Duration PATIENCE = Duration.ofSeconds(1);

  /** Reads tokens {@code from..to}, checking each; "OK" or what went wrong. */
  static String readChecked(StreamReader reader, long from, long to) {
    try {
      for (long seq = from; seq <= to; seq++) {
        StreamEvent e = reader.poll(PATIENCE);
        if (e == null) {
          return "STUCK@" + seq;
        }
        if (!(e instanceof StreamEvent.Token t) || t.sequence() != seq || !t.text().equals("t" + seq)) {
          return "WRONG@" + seq + "(" + e + ")";
        }
      }
      return "OK";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "INTERRUPTED";
    } catch (RuntimeException e) {
      return e.getClass().getSimpleName();
    }
  }

  /** Sends "t" + from .. "t" + to; "sent", or where the stream refused. */
  static String send(DefaultStream stream, long from, long to) {
    for (long seq = from; seq <= to; seq++) {
      try {
        stream.send("t" + seq);
      } catch (StreamCancelledException e) {
        return "refused@" + seq;
      } catch (RuntimeException e) {
        return e.getClass().getSimpleName() + "@" + seq;
      }
    }
    return "sent";
  }

  /** attach(lastSequence), which must be rejected: the kind of rejection, or ATTACHED. */
  static String rejectedAttach(DefaultStream stream, long lastSequence) {
    try {
      stream.attach(lastSequence).close();
      return "ATTACHED";
    } catch (EventsDroppedException e) {
      return "DROPPED";
    } catch (IllegalArgumentException e) {
      return "BEYOND";
    } catch (RuntimeException e) {
      return e.getClass().getSimpleName();
    }
  }

  static final DefaultStreamManager NO_REPLAY =
      Stress.manager(b -> b.bufferSize(1).replayWindow(0));

  /**
   * D1a. Buffer 1, no replay window (a ring of 2): reader V has read t1 and t2 and t3 is published,
   * so attach(0) asks for dropped events. The producer sends t4..t6 while the other actor, between
   * V's reads, calls attach(0) (two actors: the machine this runs on has two CPUs). A rejected
   * attach seen by the producer's gate check must not park it for good.
   */
  @JCStressTest
  @Description("attach(0) of dropped events, between the reads of a reader that keeps up, races the producer")
  @Outcome(id = "OK, DROPPED DROPPED DROPPED, sent", expect = ACCEPTABLE, desc = "rejected; the producer and the valid reader go on")
  @Outcome(expect = FORBIDDEN, desc = "the producer parked for good (STUCK), a wrong token, or an attach accepted")
  @State
  public static class DroppedPositionRacingProducer {
    final DefaultStream stream = Stress.stream(NO_REPLAY, sink -> {});
    final StreamReader valid = stream.attach();
    final String setup;

    public DroppedPositionRacingProducer() {
      stream.send("t1");
      String a = readChecked(valid, 1, 1);
      stream.send("t2");
      String b = readChecked(valid, 2, 2);
      stream.send("t3"); // permitted: V at 2 + buffer 1
      setup = a.equals("OK") && b.equals("OK") ? "" : "SETUP(" + a + "," + b + ") ";
    }

    @Actor
    public void producer(LLL_Result r) {
      r.r3 = send(stream, 4, 6);
    }

    @Actor
    public void readerAndAttacker(LLL_Result r) {
      StringBuilder attaches = new StringBuilder();
      String read = "OK";
      for (long seq = 3; seq <= 5 && read.equals("OK"); seq++) {
        read = readChecked(valid, seq, seq); // wakes the producer for the next token
        attaches.append(attaches.length() == 0 ? "" : " ").append(rejectedAttach(stream, 0));
      }
      if (read.equals("OK")) {
        read = readChecked(valid, 6, 6);
      }
      r.r1 = setup + read;
      r.r2 = attaches.toString();
      stream.cancel(); // releases a producer that nobody would wake
    }
  }

  static final DefaultStreamManager KEEP_RUNNING =
      Stress.manager(b -> b.bufferSize(2).replayWindow(2).detachPolicy(DetachPolicy.KEEP_RUNNING));

  /**
   * D1c/D1d. No reader yet; buffer 2, replay window 2 (a ring of 4). attach(1000), beyond the end,
   * races the producer's first sends; then the same client attaches from the start and reads all
   * eight tokens. With no valid reader the producer may publish 2 tokens; a rejected attach must not
   * let it run ahead (it would overwrite the reader's slots, or make attach(0) fail as "dropped").
   */
  @JCStressTest
  @Description("attach(1000), beyond the end, races the producer with no reader attached")
  @Outcome(id = "OK, BEYOND, sent", expect = ACCEPTABLE, desc = "rejected; the later reader reads every token right")
  @Outcome(expect = FORBIDDEN, desc = "the producer ran ahead: a wrong token, attach(0) dropped, or stuck")
  @State
  public static class BeyondTheEndRacingProducer {
    final DefaultStream stream = Stress.stream(KEEP_RUNNING, sink -> {});

    @Actor
    public void producer(LLL_Result r) {
      r.r3 = send(stream, 1, 8);
    }

    @Actor
    public void attackerThenReader(LLL_Result r) {
      r.r2 = rejectedAttach(stream, 1000);
      try (StreamReader reader = stream.attach(0)) {
        r.r1 = readChecked(reader, 1, 8);
      } catch (EventsDroppedException e) {
        r.r1 = "DROPPED(" + e.firstRetained() + ")";
      } catch (RuntimeException e) {
        r.r1 = e.getClass().getSimpleName();
      }
      stream.cancel();
    }
  }

  static final DefaultStreamManager CANCEL =
      Stress.manager(b -> b.bufferSize(4).detachPolicy(DetachPolicy.CANCEL));

  /**
   * D1b. Under DetachPolicy.CANCEL the only valid reader closes while attach(1000) is rejected: the
   * stream must end CANCELLED, never stay RUNNING with no reader (and a producer parked for good).
   */
  @JCStressTest
  @Description("the last reader's close races a rejected attach under DetachPolicy.CANCEL")
  @Outcome(id = "CANCELLED, BEYOND", expect = ACCEPTABLE, desc = "the last reader left: the stream is cancelled")
  @Outcome(expect = FORBIDDEN, desc = "RUNNING with no reader (seed bug #1 reborn), or the attach accepted")
  @State
  public static class RacingLastReaderCloseUnderCancel {
    final DefaultStream stream = Stress.stream(CANCEL, sink -> {});
    final StreamReader valid = stream.attach();

    public RacingLastReaderCloseUnderCancel() {
      stream.send("t1");
    }

    @Actor
    public void closer() {
      valid.close();
    }

    @Actor
    public void attacker(LL_Result r) {
      r.r2 = rejectedAttach(stream, 1000);
    }

    @Arbiter
    public void arbiter(LL_Result r) {
      r.r1 = stream.state().name();
    }
  }
}
