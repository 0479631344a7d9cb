package dev.sluice;

import static dev.sluice.Hardening.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.Hardening.Recorder;
import dev.sluice.StreamOutcome.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 10, D2, D3, D4 and S8: user code (cancel hooks, a handle's monitor, the delivery executor)
 * must never make cancel(), Subscription.cancel() or another stream's timer wait, never run on the
 * timer thread, and an Error from it must not skip the rest of the terminal transition.
 *
 * <p>Public API only. The timer tests use real time and a test-owned single timer thread, with
 * generous margins (a 300 ms deadline must fire within 1.5 s, against 3 s on 61d603f).
 */
@Timeout(60)
class HardeningCallbackTest {

  private final FakeTime time = new FakeTime();
  private final ExecutorService workers = Hardening.workerPool();
  private final ExecutorService delivery =
      Executors.newCachedThreadPool(Hardening.daemon("hardening-delivery"));
  private final ScheduledThreadPoolExecutor timer =
      new ScheduledThreadPoolExecutor(1, Hardening.daemon("hardening-timer"));
  private final List<StreamManager> managers = new ArrayList<>();
  private final CountDownLatch release = new CountDownLatch(1);

  private StreamManager track(StreamManager m) {
    managers.add(m);
    return m;
  }

  /** Fake time, test-owned workers. */
  private StreamManager.Builder fake() {
    return StreamManager.builder()
        .ticker(time)
        .scheduler(time)
        .executor(workers)
        .deliveryExecutor(delivery)
        .stopTimeout(Duration.ofSeconds(2));
  }

  /** Real time, the test-owned single timer thread. */
  private StreamManager.Builder real() {
    return StreamManager.builder()
        .scheduler(timer)
        .executor(workers)
        .deliveryExecutor(delivery)
        .stopTimeout(Duration.ofSeconds(2));
  }

  @AfterEach
  void tearDown() {
    release.countDown();
    for (StreamManager m : managers) {
      m.close();
    }
    timer.shutdownNow();
    workers.shutdownNow();
    delivery.shutdownNow();
  }

  /** Waits for {@code release} up to {@code d}, ignoring interrupts: a hook that blocks. */
  private void block(Duration d) {
    long deadline = System.nanoTime() + d.toNanos();
    for (long left = d.toNanos(); left > 0; left = deadline - System.nanoTime()) {
      try {
        if (release.await(left, TimeUnit.NANOSECONDS)) {
          return;
        }
      } catch (InterruptedException e) {
        // keep blocking, as a hook stuck in a socket close would
      }
    }
  }

  /** What a blocking cancel hook saw. */
  private static final class HookProbe {
    final AtomicInteger runs = new AtomicInteger();
    final AtomicReference<Thread> thread = new AtomicReference<>();
    final AtomicReference<Thread> worker = new AtomicReference<>();
    final AtomicBoolean workerInterruptedFirst = new AtomicBoolean();
    final CountDownLatch entered = new CountDownLatch(1);
    final CountDownLatch sourceStarted = new CountDownLatch(1);
  }

  /**
   * A source that registers a hook blocking for {@code blockFor}, then waits (without clearing its
   * interrupt flag) until the hook has started, so the hook can tell whether the worker was
   * interrupted before it ran.
   */
  private TokenSource blockingHookSource(HookProbe p, Duration blockFor, boolean sendFirst) {
    return sink -> {
      p.worker.set(Thread.currentThread());
      sink.onCancel(
          () -> {
            p.runs.incrementAndGet();
            p.thread.set(Thread.currentThread());
            p.workerInterruptedFirst.set(p.worker.get().isInterrupted());
            p.entered.countDown();
            block(blockFor);
          });
      if (sendFirst) {
        sink.send("t1");
      }
      p.sourceStarted.countDown();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (p.entered.getCount() > 0 && System.nanoTime() < deadline) {
        LockSupport.parkNanos(1_000_000); // returns at once once interrupted; the flag stays set
      }
    };
  }

  // ------------------------------------------------------------------ D2

  /**
   * D2: cancel() returns at once although the source's onCancel hook blocks for 2 s; the hook runs
   * exactly once, not on the cancelling thread, and after the worker was interrupted.
   */
  @Test
  void cancel_withOnCancelHookBlockingForSeconds_returnsPromptly_andRunsTheHookOnceAfterTheInterrupt()
      throws Exception {
    StreamManager m = track(fake().build());
    HookProbe p = new HookProbe();
    StreamHandle h = m.submit(blockingHookSource(p, Duration.ofSeconds(2), false));
    assertThat(p.sourceStarted.await(5, TimeUnit.SECONDS)).isTrue();

    long t0 = System.nanoTime();
    boolean won = h.cancel();
    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    release.countDown();

    SoftAssertions soft = new SoftAssertions();
    soft.assertThat(won).as("cancel() won").isTrue();
    soft.assertThat(millis).as("cancel() took %d ms with a blocking onCancel hook", millis).isLessThan(100);
    soft.assertThat(p.entered.await(5, TimeUnit.SECONDS)).as("hook ran").isTrue();
    soft.assertThat(((DefaultStreamManager) m).awaitIdle(5, TimeUnit.SECONDS)).as("worker returned").isTrue();
    soft.assertThat(p.runs.get()).as("hook runs").isEqualTo(1);
    soft.assertThat(p.thread.get()).as("the hook's thread").isNotSameAs(Thread.currentThread());
    soft.assertThat(p.workerInterruptedFirst.get())
        .as("the worker was interrupted before the hook ran")
        .isTrue();
    soft.assertThat(TestStreams.outcome(h).status()).isEqualTo(Status.CANCELLED);
    soft.assertAll();
  }

  /**
   * D2, Reactive Streams 3.5: Subscription.cancel() of the last subscriber (DetachPolicy.CANCEL
   * cancels the stream) returns at once although the onCancel hook blocks for 2 s.
   */
  @Test
  void subscriptionCancel_lastSubscriberWithBlockingOnCancelHook_returnsPromptly() throws Exception {
    StreamManager m = track(fake().detachPolicy(DetachPolicy.CANCEL).build());
    HookProbe p = new HookProbe();
    StreamHandle h = m.submit(blockingHookSource(p, Duration.ofSeconds(2), true));
    Recorder sub = new Recorder(1);
    h.publisher().subscribe(sub);
    assertThat(await(Duration.ofSeconds(5), () -> !sub.items.isEmpty())).isTrue();

    long t0 = System.nanoTime();
    sub.subscription.get().cancel();
    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    release.countDown();

    SoftAssertions soft = new SoftAssertions();
    soft.assertThat(millis)
        .as("Subscription.cancel() took %d ms with a blocking onCancel hook", millis)
        .isLessThan(100);
    soft.assertThat(TestStreams.outcome(h).status()).isEqualTo(Status.CANCELLED);
    soft.assertThat(p.entered.await(5, TimeUnit.SECONDS)).as("hook ran").isTrue();
    soft.assertThat(((DefaultStreamManager) m).awaitIdle(5, TimeUnit.SECONDS)).as("worker returned").isTrue();
    soft.assertThat(p.runs.get()).as("hook runs").isEqualTo(1);
    soft.assertThat(p.thread.get()).as("the hook's thread").isNotSameAs(Thread.currentThread());
    soft.assertThat(p.workerInterruptedFirst.get())
        .as("the worker was interrupted before the hook ran")
        .isTrue();
    soft.assertAll();
  }

  /**
   * D2 on a timeout: stream A's deadline fires and its hook blocks for 3 s. The hook must not run on
   * the timer thread, and stream B's 300 ms deadline (submitted 50 ms after A) must still fire on
   * time, within 1.5 s of B's submit.
   */
  @Test
  void deadline_hookOfOneStreamBlocksForSeconds_doesNotDelayAnotherStreamsDeadline()
      throws Exception {
    StreamManager m = track(real().deadline(Duration.ofMillis(300)).build());
    HookProbe pa = new HookProbe();
    StreamHandle a = m.submit(blockingHookSource(pa, Duration.ofSeconds(3), false));
    Thread.sleep(50);
    CountDownLatch never = new CountDownLatch(1);
    long bSubmit = System.nanoTime();
    StreamHandle b = m.submit(sink -> never.await());
    StreamOutcome ob = null;
    try {
      ob = b.outcome().toCompletableFuture().get(1500, TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      // reported below
    }
    long bMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - bSubmit);
    release.countDown();

    SoftAssertions soft = new SoftAssertions();
    soft.assertThat(ob)
        .as("stream B (deadline 300 ms) had no outcome %d ms after its submit: the timer thread was"
            + " busy running stream A's blocking onCancel hook", bMillis)
        .isNotNull();
    if (ob != null) {
      soft.assertThat(ob.status()).isEqualTo(Status.TIMED_OUT);
    }
    soft.assertThat(pa.entered.await(5, TimeUnit.SECONDS)).as("A's hook ran").isTrue();
    soft.assertThat(TestStreams.outcome(a).status()).isEqualTo(Status.TIMED_OUT);
    soft.assertThat(String.valueOf(pa.thread.get()))
        .as("A's hook ran on the timer thread")
        .doesNotContain("hardening-timer");
    soft.assertThat(pa.runs.get()).as("A's hook runs").isEqualTo(1);
    soft.assertThat(pa.workerInterruptedFirst.get())
        .as("A's worker was interrupted before its hook ran")
        .isTrue();
    soft.assertAll();
  }

  // ------------------------------------------------------------------ D3

  /**
   * D3: user code holding a handle's monitor for 3 s (synchronized (handle)) must not delay any
   * other stream's timer: stream B's 300 ms deadline fires within 1.5 s of its submit.
   */
  @Test
  void deadline_userHoldsAnotherHandlesMonitorForSeconds_doesNotDelayThisStreamsDeadline()
      throws Exception {
    StreamManager m = track(real().deadline(Duration.ofMillis(300)).build());
    CountDownLatch never = new CountDownLatch(1);
    StreamHandle a = m.submit(sink -> never.await());
    CountDownLatch held = new CountDownLatch(1);
    Hardening.start(
        "monitor-holder",
        () -> {
          synchronized (a) { // user code: a handle is an ordinary object to its holder
            held.countDown();
            block(Duration.ofSeconds(3));
          }
        });
    assertThat(held.await(5, TimeUnit.SECONDS)).isTrue();
    Thread.sleep(50);
    long bSubmit = System.nanoTime();
    StreamHandle b = m.submit(sink -> never.await());
    StreamOutcome ob = null;
    try {
      ob = b.outcome().toCompletableFuture().get(1500, TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      // reported below
    }
    long bMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - bSubmit);
    release.countDown();
    assertThat(ob)
        .as("stream B (deadline 300 ms) had no outcome %d ms after its submit while user code held"
            + " stream A's monitor", bMillis)
        .isNotNull();
    assertThat(ob.status()).isEqualTo(Status.TIMED_OUT);
    assertThat(TestStreams.outcome(a).status()).isEqualTo(Status.TIMED_OUT);
  }

  /**
   * D3, the worker's side: user code holding a handle's monitor must not hold up that stream's
   * worker slot either. With maxRunning 1, stream A's source returns while its handle's monitor is
   * held for 3 s; stream B, queued behind it, must still run within 1.5 s.
   */
  @Test
  void submit_userHoldsAFinishedStreamsMonitor_nextQueuedStreamStillRuns() throws Exception {
    StreamManager m = track(fake().maxRunning(1).build());
    CountDownLatch go = new CountDownLatch(1);
    StreamHandle a = m.submit(sink -> go.await());
    CountDownLatch held = new CountDownLatch(1);
    Hardening.start(
        "monitor-holder",
        () -> {
          synchronized (a) {
            held.countDown();
            block(Duration.ofSeconds(3));
          }
        });
    assertThat(held.await(5, TimeUnit.SECONDS)).isTrue();
    StreamHandle b = m.submit(TestStreams.counting(1)); // queued: A holds the only slot
    go.countDown(); // A's source returns
    StreamOutcome ob = null;
    try {
      ob = b.outcome().toCompletableFuture().get(1500, TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      // reported below
    }
    release.countDown();
    assertThat(ob)
        .as("stream B did not run within 1.5 s after A's source returned, while user code held A's"
            + " monitor (%s)", m.counters())
        .isNotNull();
    assertThat(ob.status()).isEqualTo(Status.COMPLETED);
    assertThat(TestStreams.outcome(a).status()).isEqualTo(Status.COMPLETED);
  }

  // ------------------------------------------------------------------ D4

  /**
   * D4: the delivery executor throws an Error ("unable to create native thread") when cancel()
   * wakes a Flow subscriber attached before a blocking reader. The terminal transition must still
   * be complete: cancel() does not throw, the other reader and the blocked producer are woken, the
   * hooks run, outcome() completes, and the stream is removed after its retention.
   */
  @Test
  void cancel_deliveryExecutorThrowsErrorWakingAFlowReader_stillWakesEveryoneAndSettles()
      throws Exception {
    AtomicBoolean failing = new AtomicBoolean();
    AtomicInteger scheduled = new AtomicInteger();
    AtomicInteger finished = new AtomicInteger();
    Executor flaky =
        task -> {
          if (failing.get()) {
            throw new OutOfMemoryError("unable to create native thread");
          }
          scheduled.incrementAndGet();
          delivery.execute(
              () -> {
                try {
                  task.run();
                } finally {
                  finished.incrementAndGet();
                }
              });
        };
    StreamManager m =
        track(
            fake()
                .deliveryExecutor(flaky)
                .bufferSize(2)
                .removeOnDelivery(false)
                .retention(Duration.ofSeconds(30))
                .build());
    AtomicReference<Thread> producer = new AtomicReference<>();
    AtomicInteger hookRuns = new AtomicInteger();
    CountDownLatch producerReleased = new CountDownLatch(1);
    StreamHandle h =
        m.submit(
            sink -> {
              producer.set(Thread.currentThread());
              sink.onCancel(hookRuns::incrementAndGet);
              try {
                for (int n = 1; ; n++) {
                  sink.send("t" + n);
                }
              } catch (StreamCancelledException e) {
                producerReleased.countDown();
                throw e;
              }
            });
    Recorder flow = new Recorder(0); // attached first: the first reader cancel() wakes
    h.publisher().subscribe(flow);
    assertThat(flow.subscribed.await(5, TimeUnit.SECONDS)).isTrue();
    StreamReader other = h.attach();
    CompletableFuture<StreamEvent> third = new CompletableFuture<>();
    CountDownLatch readTwo = new CountDownLatch(1);
    Thread reader =
        Hardening.start(
            "other-reader",
            () -> {
              try {
                other.poll(Duration.ofSeconds(5)); // t1
                other.poll(Duration.ofSeconds(5)); // t2
                readTwo.countDown();
                third.complete(other.poll(Duration.ofSeconds(30))); // parks: the Flow reader gates
              } catch (Throwable e) {
                third.completeExceptionally(e);
              }
            });
    assertThat(readTwo.await(5, TimeUnit.SECONDS)).isTrue();
    TestStreams.awaitParked(reader);
    TestStreams.awaitParked(producer);
    assertThat(await(Duration.ofSeconds(5), () -> finished.get() == scheduled.get())).isTrue();

    failing.set(true);
    Throwable thrown = null;
    try {
      h.cancel();
    } catch (Throwable e) {
      thrown = e;
    }

    SoftAssertions soft = new SoftAssertions();
    soft.assertThat(thrown).as("cancel() threw").isNull();
    StreamEvent last = null;
    try {
      last = third.get(2, TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      // reported below
    }
    soft.assertThat(last)
        .as("the other reader, parked in poll, was not woken within 2 s")
        .isInstanceOfSatisfying(
            StreamEvent.Terminal.class, t -> assertThat(t.status()).isEqualTo(Status.CANCELLED));
    soft.assertThat(producerReleased.await(2, TimeUnit.SECONDS))
        .as("the producer blocked in send was released within 2 s")
        .isTrue();
    soft.assertThat(await(Duration.ofSeconds(2), () -> hookRuns.get() == 1))
        .as("the onCancel hook ran once (runs: %s)", hookRuns)
        .isTrue();
    StreamOutcome o = h.outcome().toCompletableFuture().getNow(null);
    if (o == null) {
      try {
        o = h.outcome().toCompletableFuture().get(2, TimeUnit.SECONDS);
      } catch (TimeoutException e) {
        // reported below
      }
    }
    soft.assertThat(o).as("outcome() completed").isNotNull();
    if (o != null) {
      soft.assertThat(o.status()).isEqualTo(Status.CANCELLED);
    }
    failing.set(false);
    time.advance(Duration.ofSeconds(31));
    soft.assertThat(m.find(h.id())).as("removed after its 30 s retention").isEmpty();
    soft.assertAll();
  }

  // ------------------------------------------------------------------ S8

  /**
   * S8: a delivery executor that throws a RuntimeException (a saturated pool rejecting) must not
   * leave the subscriber hanging: it gets onError, exactly once, after onSubscribe.
   */
  @Test
  void subscribe_deliveryExecutorRejects_subscriberGetsOnErrorExactlyOnce() throws Exception {
    StreamManager m =
        track(
            fake()
                .deliveryExecutor(
                    task -> {
                      throw new RejectedExecutionException("delivery pool saturated");
                    })
                .build());
    StreamHandle h = m.submit(TestStreams.counting(3));
    Recorder sub = new Recorder(Long.MAX_VALUE);
    h.publisher().subscribe(sub);
    assertThat(sub.subscribed.await(5, TimeUnit.SECONDS)).as("onSubscribe").isTrue();
    assertThat(sub.awaitEnd(Duration.ofSeconds(2)))
        .as("the subscriber got neither onError nor onComplete within 2 s although the delivery"
            + " executor rejected its drain")
        .isTrue();
    Thread.sleep(100);
    assertThat(sub.errors).as("onError calls").hasSize(1);
    assertThat(sub.completions.get()).as("onComplete calls").isZero();
  }
}
