package dev.sluice;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Helpers for the issue-10 regression tests ({@code Hardening*Test}). Public API only, so that they
 * survive the core restructure.
 */
final class Hardening {

  private Hardening() {}

  /** Daemon threads named {@code prefix-n}, so that a hung test never keeps the JVM alive. */
  static ThreadFactory daemon(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /** A test-owned worker pool with as many threads as needed (never rejects). */
  static ExecutorService workerPool() {
    return Executors.newCachedThreadPool(daemon("hardening-worker"));
  }

  /** Starts a daemon thread. */
  static Thread start(String name, Runnable body) {
    Thread t = new Thread(body, name);
    t.setDaemon(true);
    t.start();
    return t;
  }

  /**
   * An endless source sending "t1", "t2", ...: the text encodes the sequence number, so a reader can
   * check that every token it reads is the right one. Counts the sends that returned.
   */
  static final class Endless implements TokenSource {
    final AtomicLong sent = new AtomicLong();
    final AtomicReference<Thread> thread = new AtomicReference<>();
    final CountDownLatch go;

    Endless() {
      this(new CountDownLatch(0));
    }

    /** Starts sending once {@code go} is open. */
    Endless(CountDownLatch go) {
      this.go = go;
    }

    @Override
    public void run(TokenSink sink) throws InterruptedException {
      thread.set(Thread.currentThread());
      go.await();
      for (long n = 1; ; n++) {
        sink.send("t" + n);
        sent.set(n);
      }
    }
  }

  /** Waits (bounded, real time) until {@code condition} holds; false if it did not in time. */
  static boolean await(Duration timeout, java.util.function.BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(1);
    }
    return true;
  }

  /**
   * Checks that {@code e} is token {@code seq} with text "t" + seq; returns null if it is, else a
   * description of what came instead.
   */
  static String wrongToken(StreamEvent e, long seq) {
    if (e instanceof StreamEvent.Token t && t.sequence() == seq && t.text().equals("t" + seq)) {
      return null;
    }
    return "expected Token(" + seq + ", t" + seq + "), got " + e;
  }

  /** A Flow subscriber that records every signal, with the thread each ran on. */
  static final class Recorder implements Flow.Subscriber<StreamEvent> {
    final long initialRequest;
    final AtomicReference<Flow.Subscription> subscription = new AtomicReference<>();
    final List<StreamEvent> items = java.util.Collections.synchronizedList(new ArrayList<>());
    final List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
    final AtomicInteger completions = new AtomicInteger();
    final CountDownLatch subscribed = new CountDownLatch(1);
    final CountDownLatch ended = new CountDownLatch(1);

    Recorder(long initialRequest) {
      this.initialRequest = initialRequest;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
      subscription.set(s);
      subscribed.countDown();
      if (initialRequest > 0) {
        s.request(initialRequest);
      }
    }

    @Override
    public void onNext(StreamEvent item) {
      items.add(item);
    }

    @Override
    public void onError(Throwable t) {
      errors.add(t);
      ended.countDown();
    }

    @Override
    public void onComplete() {
      completions.incrementAndGet();
      ended.countDown();
    }

    boolean awaitEnd(Duration d) throws InterruptedException {
      return ended.await(d.toNanos(), TimeUnit.NANOSECONDS);
    }
  }
}
