package dev.sluice;

import static dev.sluice.Hardening.await;
import static dev.sluice.Hardening.wrongToken;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.sluice.Hardening.Endless;
import dev.sluice.StreamOutcome.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 10, D1a-D1d, T1 and S9: attaching a reader, and above all a <em>rejected</em> attach, raced
 * against a running producer. The contract: a rejected attach leaves the producer's permission as
 * it was (never more than the slowest valid reader's position plus bufferSize), never parks the
 * producer for good, never keeps a stream alive that its last valid reader left; no reader ever
 * reads a token whose text is wrong (tokens are "t" + their sequence number); a late reader may
 * replay from the start while what the producer wrote still fits in the ring.
 *
 * <p>Public API only. Time is fake (timers never fire unless a test advances it); workers are real
 * threads of a test-owned pool.
 */
@Timeout(60)
class HardeningAttachTest {

  private final FakeTime time = new FakeTime();
  private final ExecutorService workers = Hardening.workerPool();
  private final List<StreamManager> managers = new ArrayList<>();
  private final List<Thread> threads = new ArrayList<>();
  private final AtomicBoolean stop = new AtomicBoolean();

  private StreamManager manager(UnaryOperator<StreamManager.Builder> config) {
    StreamManager m =
        config
            .apply(
                StreamManager.builder()
                    .ticker(time)
                    .scheduler(time)
                    .executor(workers)
                    .stopTimeout(Duration.ofSeconds(2)))
            .build();
    managers.add(m);
    return m;
  }

  @AfterEach
  void tearDown() throws InterruptedException {
    stop.set(true);
    for (Thread t : threads) {
      t.join(2_000);
    }
    for (StreamManager m : managers) {
      m.close();
    }
    workers.shutdownNow();
  }

  /** Loops attach(lastSequence) on its own thread until stopped; each attach must be rejected. */
  private static final class Attacker {
    final AtomicLong attempts = new AtomicLong();
    final AtomicReference<String> unexpected = new AtomicReference<>();
    final AtomicBoolean stop = new AtomicBoolean();
    final Thread thread;

    Attacker(StreamHandle h, long lastSequence, AtomicBoolean stopAll) {
      thread =
          Hardening.start(
              "attacker",
              () -> {
                while (!stop.get() && !stopAll.get()) {
                  try {
                    h.attach(lastSequence).close();
                    unexpected.compareAndSet(null, "attach(" + lastSequence + ") was accepted");
                  } catch (IllegalArgumentException | IllegalStateException expected) {
                    // rejected, as it must be (EventsDroppedException is an IllegalStateException)
                  } catch (Throwable e) {
                    unexpected.compareAndSet(null, "attach(" + lastSequence + ") threw " + e);
                  }
                  attempts.incrementAndGet();
                }
              });
    }

    void awaitAttempts(long n) throws InterruptedException {
      long target = attempts.get() + n;
      assertThat(await(Duration.ofSeconds(5), () -> attempts.get() >= target))
          .as("attacker made %s attempts", n)
          .isTrue();
    }

    void stop() throws InterruptedException {
      stop.set(true);
      thread.join(5_000);
    }
  }

  // ------------------------------------------------------------------ D1c, D1d and other values

  /**
   * With no valid reader attached the producer may publish bufferSize tokens (the floor is 0).
   * Rejected attach calls at {@code lastSequence} race the producer's start; afterwards the
   * producer must have published at most bufferSize tokens, and a reader attached from the start
   * must read every token right.
   */
  private void rejectedAttachRacingStartingProducer(long lastSequence, int iterations)
      throws Exception {
    int buffer = 4;
    StreamManager m =
        manager(b -> b.bufferSize(buffer).replayWindow(4).detachPolicy(DetachPolicy.KEEP_RUNNING));
    for (int i = 0; i < iterations; i++) {
      CountDownLatch go = new CountDownLatch(1);
      Endless source = new Endless(go);
      StreamHandle h = m.submit(source);
      Attacker attacker = new Attacker(h, lastSequence, stop);
      attacker.awaitAttempts(20);
      go.countDown(); // the producer starts while rejected attaches come and go
      await(Duration.ofMillis(30), () -> source.sent.get() > buffer);
      attacker.awaitAttempts(20);
      attacker.stop();
      Thread.sleep(10); // a producer that was granted too much runs on
      long sent = source.sent.get();
      if (sent > buffer) {
        h.cancel();
        fail(
            "iteration %d: after rejected attach(%d) calls the producer published %d tokens with no"
                + " valid reader attached (bufferSize %d): a rejected attach raised its permission",
            i,
            lastSequence,
            sent,
            buffer);
      }
      assertThat(attacker.unexpected.get()).isNull();
      assertThat(h.state()).isEqualTo(StreamHandle.State.RUNNING);
      StreamReader r;
      try {
        r = h.attach(0);
      } catch (RuntimeException e) {
        h.cancel();
        throw new AssertionError(
            "iteration " + i + ": attach(0) failed after " + sent + " tokens: " + e, e);
      }
      try (r) {
        for (long seq = 1; seq <= 3 * buffer; seq++) {
          StreamEvent e = r.poll(Duration.ofSeconds(5));
          String wrong = wrongToken(e, seq);
          if (wrong != null) {
            fail("iteration %d, after rejected attach(%d): %s", i, lastSequence, wrong);
          }
        }
      }
      h.cancel();
    }
  }

  /** D1c: a huge lastSequence must not grant the producer lastSequence + bufferSize tokens. */
  @Test
  void attach_hugeLastSequenceRejectedWhileProducerStarts_doesNotRaiseTheProducersPermission()
      throws Exception {
    rejectedAttachRacingStartingProducer(1_000_000_000L, 20);
  }

  /**
   * D1d: Long.MAX_VALUE - bufferSize must not saturate the producer's permission at Long.MAX_VALUE
   * (after which it never checks its gate again and overwrites a later reader's slots).
   */
  @Test
  void attach_nearMaxLastSequenceRejectedWhileProducerStarts_neverLetsTheProducerOverwriteAReader()
      throws Exception {
    rejectedAttachRacingStartingProducer(Long.MAX_VALUE - 4, 20);
  }

  /**
   * The other rejected values, for the fix's edge cases: negative (rejected before anything, fine
   * on 61d603f too), just beyond the end (fails on 61d603f like D1c), and values whose sum with the
   * buffer overflows (an overflow guard done wrong would show here).
   */
  @ParameterizedTest
  @ValueSource(
      longs = {-1, Long.MIN_VALUE, 100, Long.MAX_VALUE, Long.MAX_VALUE - 1, Long.MAX_VALUE - 8})
  void attach_anyRejectedLastSequenceWhileProducerStarts_leavesThePermissionUnchanged(long value)
      throws Exception {
    rejectedAttachRacingStartingProducer(value, 5);
  }

  // ------------------------------------------------------------------ D1a

  /**
   * D1a: bufferSize 1, no replay window, reader A keeping up with an endless source while another
   * thread loops attach(0) after token 1 is gone. Each rejected attach must leave the producer as
   * it was: A keeps receiving tokens, each one right.
   */
  @Test
  void attach_droppedPositionRejectedWhileReaderKeepsUp_neverParksTheProducerForGood()
      throws Exception {
    StreamManager m = manager(b -> b.bufferSize(1).replayWindow(0));
    Endless source = new Endless();
    StreamHandle h = m.submit(source);
    StreamReader a = h.attach();
    Attacker attacker = new Attacker(h, 0, stop);
    try (a) {
      for (long seq = 1; seq <= 20_000; seq++) {
        StreamEvent e = a.poll(Duration.ofSeconds(3));
        if (e == null) {
          fail(
              "reader A got no token %d within 3 s (%d rejected attach(0) calls so far, state %s):"
                  + " the producer is parked and nobody wakes it",
              seq,
              attacker.attempts.get(),
              h.state());
        }
        String wrong = wrongToken(e, seq);
        if (wrong != null) {
          fail("reader A: %s", wrong);
        }
      }
    } finally {
      attacker.stop();
    }
    assertThat(attacker.attempts.get()).as("rejected attach(0) calls raced").isPositive();
  }

  // ------------------------------------------------------------------ D1b

  /**
   * D1b: under DetachPolicy.CANCEL, the last valid reader's close racing a rejected attach must
   * still cancel the stream: it never stays RUNNING with no reader and a parked producer.
   */
  @Test
  void close_lastReaderRacingRejectedAttachUnderCancel_stillCancelsTheStream() throws Exception {
    StreamManager m = manager(b -> b.bufferSize(4).detachPolicy(DetachPolicy.CANCEL));
    for (int i = 0; i < 200; i++) {
      CountDownLatch never = new CountDownLatch(1);
      StreamHandle h =
          m.submit(
              sink -> {
                sink.send("t1");
                never.await();
              });
      StreamReader a = h.attach();
      Attacker attacker = new Attacker(h, 1_000_000, stop);
      attacker.awaitAttempts(5);
      a.close();
      attacker.stop();
      StreamOutcome o;
      try {
        o = h.outcome().toCompletableFuture().get(2, TimeUnit.SECONDS);
      } catch (TimeoutException e) {
        StreamHandle.State state = h.state();
        h.cancel();
        throw new AssertionError(
            "iteration "
                + i
                + ": the last reader closed under CANCEL while rejected attach calls were in"
                + " flight, and the stream is still "
                + state
                + " with no reader after 2 s");
      }
      assertThat(o.status()).as("iteration %d", i).isEqualTo(Status.CANCELLED);
      assertThat(attacker.unexpected.get()).isNull();
    }
  }

  // ------------------------------------------------------------------ T1

  /**
   * T1, the guarantee decided: retention is judged by what the producer WROTE, not by what it was
   * permitted. With bufferSize b and replayWindow w the ring has slots = nextPowerOfTwo(b + w); a
   * late attach(0) succeeds, and replays every token right, whenever the stream has published at
   * most slots - 1 tokens. Here b = w = 4, slots = 8, and the stream has published 7 tokens, all
   * read by a first reader, when the late reader attaches (the racy scenario of
   * FanOutTest.lateReader_replaysFromTheStart_whileAllIsRetained, pushed to the boundary).
   */
  @Test
  void attach_fromTheStartWhileAllButOneSlotIsWritten_alwaysReplaysEveryToken() throws Exception {
    StreamManager m = manager(b -> b.bufferSize(4).replayWindow(4));
    int published = 7; // slots - 1
    for (int i = 0; i < 2_000; i++) {
      CountDownLatch more = new CountDownLatch(1);
      StreamHandle h =
          m.submit(
              sink -> {
                for (int n = 1; n <= published; n++) {
                  sink.send("t" + n);
                }
                more.await();
                sink.send("t" + (published + 1));
              });
      try (StreamReader first = h.attach()) {
        for (long seq = 1; seq <= published; seq++) {
          String wrong = wrongToken(first.poll(Duration.ofSeconds(5)), seq);
          if (wrong != null) {
            fail("iteration %d, first reader: %s", i, wrong);
          }
        }
        StreamReader late;
        try {
          late = h.attach(0);
        } catch (EventsDroppedException e) {
          throw new AssertionError(
              "iteration "
                  + i
                  + ": the stream published "
                  + published
                  + " tokens into a ring of 8 slots, yet attach(0) failed: "
                  + e.getMessage(),
              e);
        }
        try (late) {
          more.countDown();
          for (long seq = 1; seq <= published + 1; seq++) {
            String wrong = wrongToken(late.poll(Duration.ofSeconds(5)), seq);
            if (wrong != null) {
              fail("iteration %d, late reader: %s", i, wrong);
            }
          }
        }
      } finally {
        h.cancel();
      }
    }
  }

  // ------------------------------------------------------------------ S9

  /**
   * S9: a producer parked on a full buffer with no reader attached is woken by a reader attaching
   * at the tail: the reader's next read does not hang.
   */
  @Test
  void attach_atTheTailWhileProducerParkedWithNoReader_wakesTheProducer() throws Exception {
    StreamManager m = manager(b -> b.bufferSize(4).replayWindow(4));
    Endless source = new Endless();
    StreamHandle h = m.submit(source);
    assertThat(await(Duration.ofSeconds(5), () -> source.sent.get() == 4)).isTrue();
    TestStreams.awaitParked(source.thread);
    try (StreamReader r = h.attach(4)) {
      StreamEvent e = r.poll(Duration.ofSeconds(2));
      assertThat(e)
          .as("the reader attached at the tail (4) got nothing within 2 s: the attach did not wake"
              + " the producer parked on the floor")
          .isEqualTo(new StreamEvent.Token(5, "t5"));
    } finally {
      h.cancel();
    }
  }
}
