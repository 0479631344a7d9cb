package dev.sluice.proofs;

import static dev.sluice.proofs.Harness.checkComplete;
import static dev.sluice.proofs.Harness.checkPrefix;
import static dev.sluice.proofs.Harness.counting;
import static dev.sluice.proofs.Harness.endless;
import static dev.sluice.proofs.Harness.join;
import static dev.sluice.proofs.Harness.manager;
import static dev.sluice.proofs.Harness.outcome;
import static dev.sluice.proofs.Harness.readAll;
import static dev.sluice.proofs.Harness.readSome;
import static dev.sluice.proofs.Harness.spawn;
import static dev.sluice.proofs.Harness.tryAttach;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.StreamEvent;
import dev.sluice.StreamHandle;
import dev.sluice.StreamManager;
import dev.sluice.StreamOutcome;
import dev.sluice.StreamReader;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Producer {@code send} against {@code attach(any long)}, reader {@code close} and {@code cancel}:
 * every schedule Fray picks must keep the reader contract, keep the producer within what the
 * slowest valid reader allows, and leave nobody waiting forever.
 */
class AttachExplorationTest {

  /**
   * D1a (fails on 61d603f): a rejected attach(0) lowers the producer's gate while it is checked;
   * the producer parks and nobody wakes it, so the reader that keeps up hangs with it.
   */
  @Test
  void rejectedAttach_racingAReaderThatKeepsUp_neverStrandsTheProducer() {
    Explore.explore("rejected attach(0) vs producer and reader", 300, () -> {
      FakeTime time = new FakeTime();
      try (StreamManager m = manager(time, b -> {})) {
        StreamHandle h = m.submit(counting(6, new AtomicLong()));
        StreamReader a = h.attach();
        List<StreamEvent> got = new ArrayList<>();
        CountDownLatch twoRead = new CountDownLatch(1);
        Thread reader = spawn(() -> {
          try (a) {
            while (!a.isFinished()) {
              got.add(a.next());
              if (got.size() == 2) {
                twoRead.countDown(); // token 1 is no longer retained (bufferSize 1, replayWindow 0)
              }
            }
          } catch (InterruptedException e) {
            throw new AssertionError(e);
          } finally {
            twoRead.countDown();
          }
        });
        Thread client = spawn(() -> {
          try {
            twoRead.await();
          } catch (InterruptedException e) {
            throw new AssertionError(e);
          }
          for (int i = 0; i < 3 && h.state() == StreamHandle.State.RUNNING; i++) {
            StreamReader r = tryAttach(h, 0);
            if (r != null) {
              r.close();
            }
          }
        });
        join(reader, client);
        checkComplete("reader A", got, 0, outcome(h));
      }
    });
  }

  /**
   * D1b (fails on 61d603f): a rejected attach racing the last reader's close under
   * DetachPolicy.CANCEL; the close saw the doomed reader, so nobody applied the policy and the
   * stream stayed RUNNING with no reader and a parked producer.
   */
  @Test
  void rejectedAttach_racingTheLastReadersClose_stillCancels() {
    Explore.explore("rejected attach vs last reader close", 300, () -> {
      FakeTime time = new FakeTime();
      try (StreamManager m = manager(time, b -> {})) {
        StreamHandle h = m.submit(endless(new AtomicLong()));
        StreamReader a = h.attach();
        AtomicReference<List<StreamEvent>> got = new AtomicReference<>();
        Thread reader = spawn(() -> got.set(readSome(a, 1)));
        Thread client = spawn(() -> assertThat(tryAttach(h, Long.MAX_VALUE - 1)).isNull());
        join(reader, client);
        checkPrefix("reader A", got.get(), 0);
        assertThat(h.state()).as("the last reader left under CANCEL").isEqualTo(StreamHandle.State.CANCELLED);
        assertThat(outcome(h).status()).isEqualTo(StreamOutcome.Status.CANCELLED);
      }
    });
  }

  /**
   * D1c/D1d (fail on 61d603f): attach with a huge lastSequence, rejected, before any reader: the
   * producer was granted lastSequence + bufferSize (or Long.MAX_VALUE on overflow) and ran ahead of
   * every reader, overwriting slots a later reader then read. With no valid reader the producer may
   * publish bufferSize tokens, no more; a reader attached later reads every token intact. On
   * 61d603f Fray finds both: more than bufferSize tokens sent with no reader (D1c), and schedules
   * where the late reader and the producer then wait for each other forever.
   */
  @Test
  void hostileAttach_beforeAnyReader_neverLetsTheProducerRunAhead() {
    Explore.explore("hostile attach vs starting producer", 200, () -> {
      FakeTime time = new FakeTime();
      try (StreamManager m = manager(time, b -> b.bufferSize(2))) {
        AtomicLong sent = new AtomicLong();
        StreamHandle h = m.submit(counting(6, sent));
        Thread client = spawn(() -> {
          for (long s : new long[] {Long.MAX_VALUE - 2, 1_000_000_000L, Long.MAX_VALUE - 1, Long.MAX_VALUE}) {
            StreamReader r = tryAttach(h, s);
            assertThat(r).as("attach(%d) before any token", s).isNull();
          }
        });
        join(client);
        assertThat(sent.get()).as("tokens sent with no valid reader, bufferSize 2").isLessThanOrEqualTo(2);
        StreamReader late = h.attach();
        checkComplete("late reader", readAll(late), 0, outcome(h));
        assertThat(sent.get()).isEqualTo(6);
      }
    });
  }

  /**
   * S9 (fails on 61d603f): the producer parked on the floor with no reader attached; a reader that
   * attaches at the tail has room for it, but attach never woke it: both wait forever.
   */
  @Test
  void attachAtTheTail_wakesAProducerParkedWithNoReader() {
    Explore.explore("attach at tail vs parked producer", 200, () -> {
      FakeTime time = new FakeTime();
      try (StreamManager m = manager(time, b -> {})) {
        CountDownLatch first = new CountDownLatch(1);
        StreamHandle h = m.submit(sink -> {
          sink.send("t1");
          first.countDown();
          sink.send("t2");
          sink.send("t3");
        });
        Thread client = spawn(() -> {
          try {
            first.await();
          } catch (InterruptedException e) {
            throw new AssertionError(e);
          }
          StreamReader r = h.attach(1);
          checkComplete("reader at the tail", readAll(r), 1, outcome(h));
        });
        join(client);
      }
    });
  }

  /**
   * Producer vs cancel vs a reader that keeps up vs a client attaching with every kind of number
   * (0, the tail, beyond it, Long.MAX_VALUE - k) and closing early: one terminal that all agree
   * on, the reader contract for every reader that read to its end, nobody stuck.
   */
  @Test
  void sendCancelAttachClose_anyLastSequence_contractHolds() {
    Explore.explore("send vs cancel vs attach(any) vs close", 300, () -> {
      FakeTime time = new FakeTime();
      try (StreamManager m = manager(time, b -> b.bufferSize(2).replayWindow(1))) {
        StreamHandle h = m.submit(counting(3, new AtomicLong()));
        StreamReader a = h.attach();
        AtomicReference<List<StreamEvent>> got = new AtomicReference<>();
        AtomicBoolean cancelled = new AtomicBoolean();
        List<Runnable> checks = new ArrayList<>();
        Thread reader = spawn(() -> got.set(readAll(a)));
        Thread canceller = spawn(() -> cancelled.set(h.cancel()));
        Thread client = spawn(() -> {
          for (long s : new long[] {0, 2, 3, 5, Long.MAX_VALUE - 3, Long.MAX_VALUE}) {
            StreamReader r = tryAttach(h, s);
            if (r != null) {
              List<StreamEvent> events = readSome(r, 2);
              boolean finished = !events.isEmpty() && !(events.get(events.size() - 1) instanceof StreamEvent.Token);
              synchronized (checks) {
                checks.add(() -> {
                  if (finished) {
                    checkComplete("client after " + s, events, s, outcome(h));
                  } else {
                    checkPrefix("client after " + s, events, s);
                  }
                });
              }
            }
          }
        });
        join(reader, canceller, client);
        StreamOutcome o = outcome(h);
        checkComplete("reader A", got.get(), 0, o);
        if (cancelled.get()) {
          assertThat(o.status()).isEqualTo(StreamOutcome.Status.CANCELLED);
        }
        synchronized (checks) {
          checks.forEach(Runnable::run);
        }
        assertThat(m.counters().ended()).isEqualTo(1);
      }
    });
  }

  /**
   * A late reader attaching at 0 while the producer runs a 2-slot ring (bufferSize 1, replayWindow
   * 0) with a reader that keeps up: the attach either fails (EventsDroppedException) or yields a
   * reader that reads every token intact. Kills mutant 04 (attach registering its reader after
   * reading {@code limit}: the producer, not yet seeing the new reader, overwrites the slot it
   * was validated for).
   */
  @Test
  void lateAttachAtZero_whileTheProducerRuns_readsIntactTokensOrIsRefused() {
    Explore.explore("late attach(0) vs running producer", 300, () -> {
      FakeTime time = new FakeTime();
      try (StreamManager m = manager(time, b -> {})) {
        StreamHandle h = m.submit(counting(4, new AtomicLong()));
        StreamReader a = h.attach();
        AtomicReference<List<StreamEvent>> got = new AtomicReference<>();
        AtomicReference<List<StreamEvent>> late = new AtomicReference<>();
        Thread reader = spawn(() -> got.set(readAll(a)));
        Thread client = spawn(() -> {
          StreamReader r = tryAttach(h, 0);
          if (r != null) {
            late.set(readAll(r));
          }
        });
        join(reader, client);
        StreamOutcome o = outcome(h);
        checkComplete("reader A", got.get(), 0, o);
        if (late.get() != null) {
          checkComplete("late reader", late.get(), 0, o);
        }
      }
    });
  }
}
