package dev.sluice;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** Helpers shared by the core tests. */
final class TestStreams {

  private TestStreams() {}

  /** Reads every remaining event, the terminal last; fails if that takes more than 5 s. */
  static List<StreamEvent> drain(StreamReader reader) throws InterruptedException {
    List<StreamEvent> events = new ArrayList<>();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (!reader.isFinished()) {
      StreamEvent e = reader.poll(Duration.ofNanos(deadline - System.nanoTime()));
      if (e == null) {
        throw new AssertionError("no terminal event within 5 s; got " + events);
      }
      events.add(e);
    }
    return events;
  }

  static List<String> texts(List<StreamEvent> events) {
    List<String> out = new ArrayList<>();
    for (StreamEvent e : events) {
      if (e instanceof StreamEvent.Token t) {
        out.add(t.text());
      }
    }
    return out;
  }

  static StreamEvent.Terminal terminal(List<StreamEvent> events) {
    assertThat(events).isNotEmpty();
    StreamEvent last = events.get(events.size() - 1);
    assertThat(last).isInstanceOf(StreamEvent.Terminal.class);
    assertThat(events.subList(0, events.size() - 1)).allMatch(e -> e instanceof StreamEvent.Token);
    return (StreamEvent.Terminal) last;
  }

  /** Asserts sequence numbers 1..n without gaps, in order. */
  static void assertSequential(List<StreamEvent> events, long first) {
    long expect = first;
    for (StreamEvent e : events) {
      assertThat(e.sequence()).as("sequence of %s", e).isEqualTo(expect++);
    }
  }

  /** A source sending {@code n} tokens "t1".."tn". */
  static TokenSource counting(int n) {
    return sink -> {
      for (int i = 1; i <= n; i++) {
        sink.send("t" + i);
      }
    };
  }

  /** A source that sends {@code n} tokens then blocks in send or until cancelled. */
  static TokenSource sendsForever(CountDownLatch started) {
    return sink -> {
      started.countDown();
      for (int i = 1; ; i++) {
        sink.send("t" + i);
      }
    };
  }

  /**
   * The time budget of one stress loop: {@code -Dsluice.stress.seconds} (default 3), so that the
   * suite stays fast in CI and a researcher can run the same loops for minutes.
   */
  static long stressNanos() {
    return TimeUnit.SECONDS.toNanos(Integer.getInteger("sluice.stress.seconds", 3));
  }

  static StreamOutcome outcome(StreamHandle h) throws Exception {
    return h.outcome().toCompletableFuture().get(5, TimeUnit.SECONDS);
  }

  /**
   * Waits (bounded) until a source has stored its thread in {@code producer} and that thread is
   * parked: blocked in send on a full buffer, or waiting upstream.
   */
  static Thread awaitParked(java.util.concurrent.atomic.AtomicReference<Thread> producer)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (producer.get() == null) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("the source did not start within 5 s");
      }
      Thread.sleep(1);
    }
    Thread t = producer.get();
    awaitParked(t);
    return t;
  }

  /** Waits (bounded) until {@code t} is parked. */
  static void awaitParked(Thread t) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (t.getState() != Thread.State.WAITING && t.getState() != Thread.State.TIMED_WAITING) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("thread " + t + " did not park: " + t.getState());
      }
      Thread.sleep(1);
    }
  }
}
