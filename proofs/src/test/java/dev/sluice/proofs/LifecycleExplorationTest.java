package dev.sluice.proofs;

import static dev.sluice.proofs.Harness.checkComplete;
import static dev.sluice.proofs.Harness.counting;
import static dev.sluice.proofs.Harness.endless;
import static dev.sluice.proofs.Harness.join;
import static dev.sluice.proofs.Harness.manager;
import static dev.sluice.proofs.Harness.outcome;
import static dev.sluice.proofs.Harness.readAll;
import static dev.sluice.proofs.Harness.spawn;
import static dev.sluice.proofs.Harness.tryAttach;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.StreamEvent;
import dev.sluice.StreamHandle;
import dev.sluice.StreamManager;
import dev.sluice.StreamOutcome;
import dev.sluice.StreamReader;
import dev.sluice.TokenSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Timers, hooks, close, fan-out, Flow and admission, each raced under Fray against cancel and the
 * producer: one terminal transition that every observer agrees on, no stuck writer, no pre-emptive
 * cleanup, nobody waiting forever.
 */
class LifecycleExplorationTest {

  /** The deadline timer (fake clock advanced on its own thread) against cancel() and a reader. */
  @Test
  void deadlineTimer_racingCancel_oneTerminalAllAgree_andNoPreemptiveCleanup() {
    Explore.explore("deadline timer vs cancel", 300, () -> {
      FakeTime time = new FakeTime();
      try (StreamManager m = manager(time, b -> b.deadline(Duration.ofSeconds(1)).removeOnDelivery(false))) {
        StreamHandle h = m.submit(endless(new AtomicLong()));
        StreamReader a = h.attach();
        AtomicReference<List<StreamEvent>> got = new AtomicReference<>();
        AtomicBoolean cancelled = new AtomicBoolean();
        Thread reader = spawn(() -> got.set(readAll(a)));
        Thread timer = spawn(() -> time.advance(Duration.ofSeconds(2)));
        Thread canceller = spawn(() -> cancelled.set(h.cancel()));
        join(reader, timer, canceller);
        StreamOutcome o = outcome(h);
        assertThat(o.status()).isIn(StreamOutcome.Status.CANCELLED, StreamOutcome.Status.TIMED_OUT);
        assertThat(cancelled.get()).as("cancel() won iff CANCELLED").isEqualTo(o.status() == StreamOutcome.Status.CANCELLED);
        assertThat(h.state()).isEqualTo(o.status() == StreamOutcome.Status.CANCELLED ? StreamHandle.State.CANCELLED : StreamHandle.State.DONE);
        checkComplete("reader", got.get(), 0, o);
        assertThat(m.counters().cancelled() + m.counters().timedOut()).isEqualTo(1);
        // Invariant 4: still findable within retention; a late reader at the tail gets the same terminal.
        assertThat(m.find(h.id())).as("found within retention").isPresent();
        checkComplete("late reader", readAll(h.attach(o.tokens())), o.tokens(), o);
      }
    });
  }

  /**
   * D2 (fails on 61d603f): cancel() ran the onCancel hooks inline, before interrupting the worker.
   * A hook that waits until its source has stopped (closing an HTTP body that blocks until the
   * upstream read returns) then waits forever, and cancel() with it.
   */
  @Test
  void cancel_neverWaitsForAHook_hooksRunAfterTheInterrupt() {
    Explore.explore("cancel vs blocking hook", 200, () -> {
      FakeTime time = new FakeTime();
      try (StreamManager m = manager(time, b -> {})) {
        CountDownLatch stopped = new CountDownLatch(1);
        StreamHandle h = m.submit(upstreamThatStopsOnInterrupt(stopped));
        Thread canceller = spawn(h::cancel);
        join(canceller);
        assertThat(h.state()).isNotEqualTo(StreamHandle.State.RUNNING);
      }
    });
  }

  /** D2 on the timer thread (fails on 61d603f): the same hook, the stream ending by its deadline. */
  @Test
  void deadline_neverWaitsForAHook_onTheTimerThread() {
    Explore.explore("deadline vs blocking hook", 200, () -> {
      FakeTime time = new FakeTime();
      try (StreamManager m = manager(time, b -> b.deadline(Duration.ofSeconds(1)))) {
        CountDownLatch stopped = new CountDownLatch(1);
        StreamHandle h = m.submit(upstreamThatStopsOnInterrupt(stopped));
        Thread timer = spawn(() -> time.advance(Duration.ofSeconds(2)));
        join(timer);
        assertThat(h.state()).isEqualTo(StreamHandle.State.DONE);
      }
    });
  }

  /**
   * A source blocked on its upstream until interrupted, with a hook that waits for it to stop (as
   * closing an HTTP body waits for the read in progress). A hook run on the source's own thread
   * (registered after the stream ended) has nothing to wait for.
   */
  private static TokenSource upstreamThatStopsOnInterrupt(CountDownLatch stopped) {
    return sink -> {
      Thread source = Thread.currentThread();
      sink.onCancel(() -> {
        if (Thread.currentThread() == source) {
          return;
        }
        try {
          stopped.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      });
      try {
        new LinkedBlockingQueue<String>().take(); // the upstream's next chunk, never coming
      } finally {
        stopped.countDown();
      }
    };
  }

  /**
   * Hooks registered by the source while cancel() races it: each hook runs exactly once, whether it
   * was registered before the cancel, during it (while the hooks fire), or after it.
   */
  @Test
  void hooksRegisteredWhileCancelling_eachRunsExactlyOnce() {
    Explore.explore("hook registration vs cancel", 300, () -> {
      FakeTime time = new FakeTime();
      Harness.Workers workers = new Harness.Workers();
      try (StreamManager m = manager(time, workers, b -> {})) {
        java.util.concurrent.atomic.AtomicInteger[] runs = {
          new java.util.concurrent.atomic.AtomicInteger(), new java.util.concurrent.atomic.AtomicInteger()
        };
        CountDownLatch[] ran = {new CountDownLatch(1), new CountDownLatch(1)};
        AtomicBoolean registered = new AtomicBoolean();
        StreamHandle h = m.submit(sink -> {
          for (int i = 0; i < 2; i++) {
            int k = i;
            sink.onCancel(() -> {
              runs[k].incrementAndGet();
              ran[k].countDown();
            });
          }
          registered.set(true);
          endless(new AtomicLong()).run(sink);
        });
        Thread canceller = spawn(h::cancel);
        join(canceller);
        workers.joinAll();
        if (registered.get()) {
          for (int i = 0; i < 2; i++) {
            try {
              ran[i].await(); // hooks run exactly once: so at least once (a lost hook is a deadlock here)
            } catch (InterruptedException e) {
              throw new AssertionError(e);
            }
          }
        }
        m.close();
        for (int i = 0; i < 2; i++) {
          assertThat(runs[i].get()).as("runs of hook %d", i).isLessThanOrEqualTo(1);
        }
      }
    });
  }

  /** close() against a producer blocked on a full buffer with no reader, and a reader attaching. */
  @Test
  void close_releasesABlockedProducer_andReadersGetCancelled() {
    Explore.explore("close vs blocked producer vs attach", 200, () -> {
      FakeTime time = new FakeTime();
      Harness.Workers workers = new Harness.Workers();
      StreamManager m = manager(time, workers, b -> {});
      StreamHandle h = m.submit(endless(new AtomicLong()));
      AtomicReference<List<StreamEvent>> got = new AtomicReference<>();
      AtomicLong from = new AtomicLong(-1);
      Thread closer = spawn(m::close);
      Thread client = spawn(() -> {
        StreamReader r = tryAttach(h, 0);
        if (r != null) {
          from.set(0);
          got.set(readAll(r));
        }
      });
      join(closer, client);
      workers.joinAll(); // the producer's send was released (or it never started)
      StreamOutcome o = outcome(h);
      if (got.get() != null) {
        checkComplete("reader", got.get(), 0, o);
      }
      // The reader may have detached (it was the last one, CANCEL) just before close: cancelled either way.
      assertThat(o.status()).isEqualTo(StreamOutcome.Status.CANCELLED);
    });
  }

  /** Fan-out: two readers and cancel() racing the producer; both get the same terminal, last. */
  @Test
  void fanOut_twoReadersRacingCancel_bothGetTheSameTerminalLast() {
    Explore.explore("fan-out vs cancel", 300, () -> {
      FakeTime time = new FakeTime();
      try (StreamManager m = manager(time, b -> b.replayWindow(1))) {
        StreamHandle h = m.submit(counting(3, new AtomicLong()));
        StreamReader r1 = h.attach();
        StreamReader r2 = h.attach();
        AtomicReference<List<StreamEvent>> got1 = new AtomicReference<>();
        AtomicReference<List<StreamEvent>> got2 = new AtomicReference<>();
        AtomicBoolean cancelled = new AtomicBoolean();
        Thread t1 = spawn(() -> got1.set(readAll(r1)));
        Thread t2 = spawn(() -> got2.set(readAll(r2)));
        Thread canceller = spawn(() -> cancelled.set(h.cancel()));
        join(t1, t2, canceller);
        StreamOutcome o = outcome(h);
        checkComplete("reader 1", got1.get(), 0, o);
        checkComplete("reader 2", got2.get(), 0, o);
        assertThat(cancelled.get()).isEqualTo(o.status() == StreamOutcome.Status.CANCELLED);
        assertThat(m.counters().ended()).isEqualTo(1);
      }
    });
  }

  /**
   * A Flow subscriber that cancels in onNext, with a direct delivery executor (delivery runs on the
   * producer's thread), against a concurrent cancel(): tokens in order, no signal after its
   * cancel, at most one terminal signal, the stream ends, the producer is released.
   */
  @Test
  void flowSubscriber_cancellingDuringDelivery_getsNothingMore() {
    Explore.explore("flow cancel during delivery", 200, () -> {
      FakeTime time = new FakeTime();
      Harness.Workers workers = new Harness.Workers();
      try (StreamManager m = manager(time, workers, b -> {})) {
        StreamHandle h = m.submit(counting(3, new AtomicLong()));
        List<String> signals = new ArrayList<>();
        AtomicBoolean cancelCalled = new AtomicBoolean();
        h.publisher().subscribe(new Flow.Subscriber<StreamEvent>() {
          Flow.Subscription sub;

          @Override
          public void onSubscribe(Flow.Subscription s) {
            sub = s;
            s.request(Long.MAX_VALUE);
          }

          @Override
          public void onNext(StreamEvent e) {
            record((cancelCalled.get() ? "late " : "") + "next " + e.sequence());
            if (e.sequence() == 1) {
              cancelCalled.set(true);
              sub.cancel();
            }
          }

          @Override
          public void onError(Throwable t) {
            record((cancelCalled.get() ? "late " : "") + "error");
          }

          @Override
          public void onComplete() {
            record((cancelCalled.get() ? "late " : "") + "complete");
          }

          private void record(String s) {
            synchronized (signals) {
              signals.add(s);
            }
          }
        });
        Thread canceller = spawn(h::cancel);
        join(canceller);
        workers.joinAll(); // the producer was released (or never started)
        synchronized (signals) {
          assertThat(signals).as("signals").noneMatch(s -> s.startsWith("late"));
          assertThat(signals.stream().filter(s -> s.equals("error") || s.equals("complete")).count()).isLessThanOrEqualTo(1);
          for (int i = 0; i < signals.size(); i++) {
            if (signals.get(i).startsWith("next")) {
              assertThat(signals.get(i)).isEqualTo("next " + (i + 1));
            } else {
              assertThat(i).as("terminal signal last in %s", signals).isEqualTo(signals.size() - 1);
            }
          }
        }
        assertThat(h.state()).isNotEqualTo(StreamHandle.State.RUNNING);
      }
    });
  }

  /**
   * Admission, maxRunning 1: cancel a running stream and a queued one at once; the worker leaving
   * must hand its slot on (a queued stream cancelled never runs and never holds the slot), and a
   * stream submitted afterwards must run to completion.
   */
  @Test
  void admission_cancelQueuedAndRunning_slotIsHandedOn() {
    Explore.explore("admission: cancel queued vs worker exit", 300, () -> {
      FakeTime time = new FakeTime();
      try (StreamManager m = manager(time, b -> b.maxRunning(1).queueCapacity(2))) {
        StreamHandle a = m.submit(endless(new AtomicLong()));
        AtomicBoolean bRan = new AtomicBoolean();
        StreamHandle b = m.submit(sink -> {
          bRan.set(true);
          sink.send("t1");
        });
        AtomicBoolean bCancelled = new AtomicBoolean();
        Thread x = spawn(() -> bCancelled.set(b.cancel()));
        Thread y = spawn(a::cancel);
        join(x, y);
        assertThat(outcome(a).status()).isEqualTo(StreamOutcome.Status.CANCELLED);
        StreamOutcome ob = outcome(b);
        assertThat(bCancelled.get()).isEqualTo(ob.status() == StreamOutcome.Status.CANCELLED);
        if (ob.status() == StreamOutcome.Status.CANCELLED && ob.tokens() == 0) {
          // fine: cancelled in the queue or before its first token
        } else {
          assertThat(bRan.get()).isTrue();
        }
        StreamHandle c = m.submit(counting(1, new AtomicLong()));
        checkComplete("reader of c", readAll(c.attach()), 0, outcome(c));
        assertThat(outcome(c).status()).isEqualTo(StreamOutcome.Status.COMPLETED);
        assertThat(m.counters().queued()).isZero();
      }
    });
  }

  /**
   * D5 (fails on 61d603f): an executor of exactly maxRunning threads meets the documented
   * requirement, yet the slot was released before the executor's task returned, so the next submit
   * found the only thread still busy and the stream FAILED "executor rejected the worker".
   */
  @Test
  @org.junit.jupiter.api.Disabled(
      "a known limit, found by this exploration on the hardened core: dispatch retries a rejecting"
          + " executor for at most 100 ms while a worker is on its way back to its pool; Fray's"
          + " scheduler can starve that pool thread for longer, which no time-bounded retry survives."
          + " Under a fair scheduler the case holds (HardeningExecutorTest, 2,000 submits). Next:"
          + " hand the stream to the leaving worker instead of retrying (open in issue 11).")
  void executorOfExactlyMaxRunningThreads_neverRejectsTheNextStream() {
    Explore.explore("executor of maxRunning threads", 200, () -> {
      FakeTime time = new FakeTime();
      ThreadPoolExecutor pool = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new SynchronousQueue<>());
      try (StreamManager m = manager(time, b -> b.maxRunning(1).executor(pool))) {
        for (int i = 0; i < 2; i++) {
          StreamHandle h = m.submit(counting(1, new AtomicLong()));
          StreamOutcome o = outcome(h);
          assertThat(o.status()).as("stream %d: %s", i, o).isEqualTo(StreamOutcome.Status.COMPLETED);
        }
      } finally {
        pool.shutdown();
      }
    });
  }

  /**
   * D7 (fails on 61d603f): a source returns with its thread's interrupt flag set; the next stream
   * run on the same worker slot must start with a clear flag, not fail in its first blocking send.
   */
  @Test
  void foreignInterrupt_doesNotCarryOverToTheNextStream() {
    Explore.explore("interrupt carry-over", 100, () -> {
      FakeTime time = new FakeTime();
      try (StreamManager m = manager(time, b -> b.maxRunning(1).queueCapacity(1))) {
        CountDownLatch release = new CountDownLatch(1);
        StreamHandle a = m.submit(sink -> {
          release.await();
          Thread.currentThread().interrupt();
        });
        StreamHandle b = m.submit(counting(3, new AtomicLong())); // queued behind a
        StreamReader r = b.attach();
        release.countDown();
        assertThat(outcome(a).status()).isEqualTo(StreamOutcome.Status.COMPLETED);
        checkComplete("reader of b", readAll(r), 0, outcome(b));
        assertThat(outcome(b).status()).isEqualTo(StreamOutcome.Status.COMPLETED);
      }
    });
  }

  /**
   * D3 (fails on 61d603f): the timer code synchronized on the public handle, so a user holding a
   * handle's monitor held up the single timer thread and every other stream's timeouts with it.
   * Here the user holds stream 1's monitor until stream 2 times out; the timer must get there.
   */
  @Test
  void userHoldingAHandlesMonitor_neverDelaysAnotherStreamsTimer() {
    Explore.explore("user monitor vs timer", 200, () -> {
      FakeTime time = new FakeTime();
      try (StreamManager m = manager(time, b -> b.deadline(Duration.ofSeconds(1)))) {
        StreamHandle h1 = m.submit(endless(new AtomicLong()));
        StreamHandle h2 = m.submit(endless(new AtomicLong()));
        Thread user = spawn(() -> {
          synchronized (h1) {
            outcome(h2);
          }
        });
        Thread timer = spawn(() -> time.advance(Duration.ofSeconds(2)));
        join(user, timer);
        assertThat(outcome(h2).status()).isEqualTo(StreamOutcome.Status.TIMED_OUT);
        assertThat(outcome(h1).status()).isEqualTo(StreamOutcome.Status.TIMED_OUT);
      }
    });
  }

  /**
   * D4 (fails on 61d603f): an Error from a Flow reader's wake-up (the delivery executor failing to
   * start a thread) escaped terminate() after its CAS: the other readers were never woken, the
   * outcome never completed, cancel() threw. After the terminal CAS nothing may skip the rest.
   */
  @Test
  void errorFromADeliveryWakeUp_duringCancel_otherReadersStillGetTheTerminal() {
    Explore.explore("delivery Error during terminate", 100, () -> {
      FakeTime time = new FakeTime();
      AtomicReference<StreamHandle> stream = new AtomicReference<>();
      // Fails only the wake-ups of the terminal transition (never a token's), so the stream ends CANCELLED.
      try (StreamManager m = manager(time, b -> b.deliveryExecutor(r -> {
        StreamHandle sh = stream.get();
        if (sh != null && sh.state() != StreamHandle.State.RUNNING) {
          throw new OutOfMemoryError("unable to create native thread (injected)");
        }
        r.run();
      }))) {
        StreamHandle h = m.submit(endless(new AtomicLong()));
        stream.set(h);
        h.publisher().subscribe(new Flow.Subscriber<StreamEvent>() {
          @Override
          public void onSubscribe(Flow.Subscription s) {}

          @Override
          public void onNext(StreamEvent e) {}

          @Override
          public void onError(Throwable t) {}

          @Override
          public void onComplete() {}
        });
        StreamReader r = h.attach();
        AtomicReference<List<StreamEvent>> got = new AtomicReference<>();
        AtomicReference<Throwable> cancelThrew = new AtomicReference<>();
        Thread reader = spawn(() -> got.set(readAll(r)));
        Thread canceller = spawn(() -> {
          try {
            h.cancel();
          } catch (Throwable t) {
            cancelThrew.set(t);
          }
        });
        join(reader, canceller);
        assertThat(cancelThrew.get()).as("cancel() threw").isNull();
        checkComplete("blocking reader", got.get(), 0, outcome(h));
        assertThat(outcome(h).status()).isEqualTo(StreamOutcome.Status.CANCELLED);
      }
    });
  }

  /**
   * D6 (fails on 61d603f): an Error from the worker executor's execute() escaped submit() after
   * the slot was taken; with maxRunning 1 nothing ever ran again. The stream that could not start
   * fails, and the slot is free for the next one.
   */
  @Test
  void errorFromTheExecutor_releasesTheSlot() {
    Explore.explore("executor Error", 20, () -> {
      FakeTime time = new FakeTime();
      Harness.Workers workers = new Harness.Workers();
      AtomicBoolean failNext = new AtomicBoolean(true);
      try (StreamManager m = manager(time, b -> b.maxRunning(1).executor(task -> {
        if (failNext.getAndSet(false)) {
          throw new OutOfMemoryError("unable to create native thread (injected)");
        }
        workers.execute(task);
      }))) {
        StreamHandle a = null;
        try {
          a = m.submit(counting(1, new AtomicLong()));
        } catch (Throwable t) {
          // 61d603f lets the Error escape submit(); the contract: the stream fails, the slot is freed
        }
        if (a != null) {
          assertThat(outcome(a).status()).isEqualTo(StreamOutcome.Status.FAILED);
        }
        StreamHandle b = m.submit(counting(1, new AtomicLong()));
        checkComplete("reader of b", readAll(b.attach()), 0, outcome(b));
        assertThat(outcome(b).status()).isEqualTo(StreamOutcome.Status.COMPLETED);
      }
    });
  }

  /**
   * Invariant 2, seed bug #1: cancel() racing a producer on its way to park on a full buffer with
   * no reader. The producer sends from its own thread (as an HTTP client's callback thread does;
   * TokenSink allows it), so the worker's interrupt does not reach it: only the wake-up does. It
   * must return whichever comes first. Added for mutant 14 (send parks without re-checking the
   * status after publishing its waiter).
   */
  @Test
  void cancel_racingAProducerAboutToPark_releasesIt() {
    Explore.explore("cancel vs producer about to park", 300, () -> {
      FakeTime time = new FakeTime();
      Harness.Workers workers = new Harness.Workers();
      List<Thread> senders = new ArrayList<>();
      try (StreamManager m = manager(time, workers, b -> {})) {
        StreamHandle h = m.submit(sink -> {
          Thread sender = spawn(() -> {
            try {
              endless(new AtomicLong()).run(sink);
            } catch (Exception e) {
              // the stream ended: send threw
            }
          });
          synchronized (senders) {
            senders.add(sender);
          }
          sender.join();
        });
        Thread canceller = spawn(h::cancel);
        join(canceller);
        workers.joinAll();
        synchronized (senders) {
          join(senders.toArray(new Thread[0])); // the sending thread was released
        }
        assertThat(outcome(h).status()).isEqualTo(StreamOutcome.Status.CANCELLED);
      }
    });
  }
}
