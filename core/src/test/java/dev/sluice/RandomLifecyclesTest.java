package dev.sluice;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.StreamOutcome.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * 10,000 random lifecycles from concurrent clients on two managers (one per detach policy), each
 * checked as it ends; then no registry entry, worker or timer may be left, and the counters add up.
 */
@Timeout(60)
class RandomLifecyclesTest {

  static final int LIFECYCLES = 10_000;
  static final int CLIENTS = 4;

  private final FakeTime time = new FakeTime();

  private StreamManager.Builder base() {
    return StreamManager.builder()
        .bufferSize(4)
        .replayWindow(4)
        .maxRunning(8)
        .queueCapacity(LIFECYCLES)
        .ticker(time)
        .scheduler(time)
        .noReaderTimeout(Duration.ofSeconds(60))
        .retention(Duration.ofSeconds(30));
  }

  @Test
  void randomLifecycles_leaveNothingBehind_andCountersAddUp() throws Exception {
    StreamManager cancelling = base().build();
    StreamManager resumable = base().detachPolicy(DetachPolicy.KEEP_RUNNING).build();
    // A few streams nobody reads and whose producers block on a full buffer: they hold worker
    // slots until the no-reader timeout, which only fires when the test advances the clock.
    List<StreamHandle> unread = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      unread.add(cancelling.submit(TestStreams.counting(100)));
    }
    ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
    List<Future<?>> done = new ArrayList<>();
    for (int c = 0; c < CLIENTS; c++) {
      long seed = 42L + c;
      done.add(
          clients.submit(
              () -> {
                SplittableRandom rnd = new SplittableRandom(seed);
                for (int i = 0; i < LIFECYCLES / CLIENTS; i++) {
                  lifecycle(rnd, rnd.nextInt(8) == 7 ? resumable : cancelling);
                }
                return null;
              }));
    }
    for (Future<?> f : done) {
      f.get(50, TimeUnit.SECONDS);
    }
    clients.shutdown();

    // Let every released worker return (in real time) before the fake clock jumps past the stop
    // timeout, or the manager rightly reports it as ignoring cancellation. Only the four unread
    // producers still hold a slot.
    awaitRunning(cancelling, unread.size());
    awaitRunning(resumable, 0);
    // Unread streams wait for their no-reader timeout, ended ones for their retention.
    time.advance(Duration.ofSeconds(61));
    for (StreamHandle h : unread) {
      StreamOutcome o = h.outcome().toCompletableFuture().get(5, TimeUnit.SECONDS);
      assertThat(o.status()).isEqualTo(Status.TIMED_OUT);
      assertThat(o.tokens()).isEqualTo(4);
    }
    for (StreamManager m : List.of(cancelling, resumable)) {
      assertThat(((DefaultStreamManager) m).awaitIdle(10, TimeUnit.SECONDS)).isTrue();
    }
    time.advance(Duration.ofSeconds(31));

    long submitted = 0;
    for (StreamManager m : List.of(cancelling, resumable)) {
      StreamCounters c = m.counters();
      submitted += c.submitted();
      assertThat(((DefaultStreamManager) m).registrySize()).as("registry of %s", c).isZero();
      assertThat(c.running()).isZero();
      assertThat(c.queued()).isZero();
      assertThat(c.retained()).isZero();
      assertThat(c.submitted()).isEqualTo(c.ended());
      assertThat(c.ignoredCancellation()).isZero();
    }
    assertThat(submitted).isEqualTo(LIFECYCLES + unread.size());
    assertThat(time.pending()).as("timers left").isZero();

    cancelling.close();
    resumable.close();
    assertNoWorkerThreadsLeft();
  }

  /** One stream's life, chosen at random; checks what its reader saw. */
  private void lifecycle(SplittableRandom rnd, StreamManager m) throws Exception {
    int kind = rnd.nextInt(7);
    // Kinds 5 and 6 have no reader while the source runs: they must fit in the buffer.
    int tokens = kind >= 5 ? rnd.nextInt(5) : rnd.nextInt(12);
    // Fails before token failAt (tokens + 1: after the last one), or not at all (-1).
    int failAt = rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(tokens + 1) : -1;
    StreamHandle h =
        m.submit(
            sink -> {
              for (int i = 1; i <= tokens + 1; i++) {
                if (i == failAt) {
                  throw new IllegalStateException("boom at " + i);
                }
                if (i <= tokens) {
                  sink.send("t" + i);
                }
              }
            });
    switch (kind) {
      case 0: // read to the end
        check(h, readAll(h.attach(), -1, h), tokens, failAt);
        break;
      case 1: // cancel before reading
        h.cancel();
        check(h, readAll(h.attach(), -1, h), tokens, failAt);
        break;
      case 2: // cancel mid-read
        {
          StreamReader r = h.attach();
          check(h, readAll(r, rnd.nextInt(4), h), tokens, failAt);
        }
        break;
      case 3: // cancel racing completion, from another thread
        {
          Thread t = new Thread(h::cancel);
          t.start();
          List<StreamEvent> events = readAll(h.attach(), -1, h);
          t.join();
          check(h, events, tokens, failAt);
        }
        break;
      case 4: // reader detaches early
        {
          StreamReader r = h.attach();
          if (r.poll(Duration.ofMillis(1)) != null && !r.isFinished() && rnd.nextBoolean()) {
            r.poll(Duration.ofMillis(1));
          }
          long last = r.lastSequence();
          r.close();
          if (h.state() == StreamHandle.State.RUNNING) {
            // KEEP_RUNNING: resume where we left off and finish.
            List<StreamEvent> rest = readAll(h.attach(last), -1, h);
            assertThat(rest).isNotEmpty();
            assertThat(rest.get(0).sequence()).isLessThanOrEqualTo(last + 1);
          }
        }
        break;
      case 5: // nobody ever reads: the no-reader timeout or retention must clean it up
        break;
      case 6: // completes, then is read later
        h.outcome().toCompletableFuture().get(5, TimeUnit.SECONDS);
        check(h, readAll(h.attach(), -1, h), tokens, failAt);
        break;
      default:
        throw new IllegalStateException("kind " + kind);
    }
  }

  /** Reads until the terminal; cancels the stream after {@code cancelAfter} events if >= 0. */
  private static List<StreamEvent> readAll(StreamReader r, int cancelAfter, StreamHandle h)
      throws Exception {
    List<StreamEvent> events = new ArrayList<>();
    try (r) {
      while (!r.isFinished()) {
        if (events.size() == cancelAfter) {
          h.cancel();
        }
        StreamEvent e = r.poll(Duration.ofSeconds(5));
        assertThat(e).as("event within 5 s after %s", events).isNotNull();
        events.add(e);
      }
    }
    return events;
  }

  private static void check(StreamHandle h, List<StreamEvent> events, int tokens, int failAt)
      throws Exception {
    StreamEvent.Terminal end = TestStreams.terminal(events);
    TestStreams.assertSequential(events, 1);
    StreamOutcome o = h.outcome().toCompletableFuture().get(5, TimeUnit.SECONDS);
    assertThat(end.outcome()).isSameAs(o);
    assertThat(end.sequence()).isEqualTo(o.tokens() + 1);
    switch (o.status()) {
      case COMPLETED:
        assertThat(failAt).isEqualTo(-1);
        assertThat(o.tokens()).isEqualTo(tokens);
        break;
      case FAILED:
        assertThat(o.tokens()).isEqualTo(failAt - 1);
        assertThat(o.cause()).hasMessage("boom at " + failAt);
        break;
      case CANCELLED:
        assertThat(o.tokens()).isLessThanOrEqualTo(tokens);
        break;
      default:
        throw new AssertionError("unexpected " + o);
    }
    assertThat(h.state())
        .isEqualTo(o.status() == Status.CANCELLED ? StreamHandle.State.CANCELLED : StreamHandle.State.DONE);
  }

  private static void awaitRunning(StreamManager m, long expected) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (m.counters().running() != expected) {
      assertThat(System.nanoTime()).as("running %s", m.counters()).isLessThan(deadline);
      Thread.sleep(1);
    }
  }

  private static void assertNoWorkerThreadsLeft() throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      long alive =
          Thread.getAllStackTraces().keySet().stream()
              .filter(t -> t.getName().startsWith("sluice-"))
              .count();
      if (alive == 0) {
        return;
      }
      assertThat(System.nanoTime()).as("%d sluice threads still alive", alive).isLessThan(deadline);
      Thread.sleep(10);
    }
  }
}
