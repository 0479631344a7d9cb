package dev.sluice.proofs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.EventsDroppedException;
import dev.sluice.StreamEvent;
import dev.sluice.StreamHandle;
import dev.sluice.StreamManager;
import dev.sluice.StreamOutcome;
import dev.sluice.StreamReader;
import dev.sluice.TokenSource;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * What every exploration scenario shares: a manager whose every thread is one Fray controls (a
 * thread per worker, a fake clock and scheduler, a direct delivery executor), sources that write
 * "t1", "t2", ..., and the reader contract as one check.
 */
final class Harness {

  private Harness() {}

  /** A manager on {@code time}: a new thread per worker, direct delivery, small defaults. */
  static StreamManager manager(FakeTime time, Consumer<StreamManager.Builder> config) {
    return manager(time, new Workers(), config);
  }

  /** The same, its worker threads recorded in {@code workers}. */
  static StreamManager manager(FakeTime time, Workers workers, Consumer<StreamManager.Builder> config) {
    StreamManager.Builder b =
        StreamManager.builder()
            .maxRunning(4)
            .bufferSize(1)
            .replayWindow(0)
            .ticker(time)
            .scheduler(time)
            .executor(workers)
            .deliveryExecutor(Runnable::run);
    config.accept(b);
    return b.build();
  }

  /** Starts a thread for {@code r}; Fray schedules it. */
  static Thread spawn(Runnable r) {
    Thread t = new Thread(r);
    t.setDaemon(true);
    t.start();
    return t;
  }

  /** An executor that starts a thread per task and can wait for all of them to end. */
  static final class Workers implements java.util.concurrent.Executor {
    private final List<Thread> threads = new ArrayList<>();

    @Override
    public void execute(Runnable task) {
      Thread t = spawn(task);
      synchronized (threads) {
        threads.add(t);
      }
    }

    /** Waits until every worker thread started so far has ended (its source returned). */
    void joinAll() {
      List<Thread> copy;
      synchronized (threads) {
        copy = new ArrayList<>(threads);
      }
      join(copy.toArray(new Thread[0]));
    }
  }

  static void join(Thread... threads) {
    for (Thread t : threads) {
      try {
        t.join();
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }
  }

  /** A source sending "t1".."tn", counting in {@code sent} every send that returned normally. */
  static TokenSource counting(int n, AtomicLong sent) {
    return sink -> {
      for (int i = 1; i <= n; i++) {
        sink.send("t" + i);
        sent.incrementAndGet();
      }
    };
  }

  /** A source that sends until its stream ends (send then throws and the source lets it go). */
  static TokenSource endless(AtomicLong sent) {
    return sink -> {
      for (int i = 1; ; i++) {
        sink.send("t" + i);
        sent.incrementAndGet();
      }
    };
  }

  static StreamOutcome outcome(StreamHandle h) {
    try {
      return h.outcome().toCompletableFuture().get();
    } catch (InterruptedException | ExecutionException e) {
      throw new AssertionError(e);
    }
  }

  /** Reads until the last event (untimed: a lost wake-up is a deadlock Fray reports). */
  static List<StreamEvent> readAll(StreamReader r) {
    List<StreamEvent> events = new ArrayList<>();
    try {
      while (!r.isFinished()) {
        events.add(r.next());
      }
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    } finally {
      r.close();
    }
    return events;
  }

  /** Reads {@code n} events (or fewer if the reader finishes first), then closes the reader. */
  static List<StreamEvent> readSome(StreamReader r, int n) {
    List<StreamEvent> events = new ArrayList<>();
    try {
      while (!r.isFinished() && events.size() < n) {
        events.add(r.next());
      }
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    } finally {
      r.close();
    }
    return events;
  }

  /**
   * The reader contract for a reader attached after {@code from} that read to its end: tokens
   * from+1, from+2, ... without gaps, each with its own text (never an overwritten slot), then
   * exactly one terminal, last, the same as the handle's outcome; under COMPLETED no token is
   * missing (invariants 3 and 6, and 1: every observer agrees).
   */
  static void checkComplete(String who, List<StreamEvent> events, long from, StreamOutcome outcome) {
    assertThat(events).as("%s: events", who).isNotEmpty();
    checkPrefix(who, events.subList(0, events.size() - 1), from);
    StreamEvent last = events.get(events.size() - 1);
    assertThat(last).as("%s: last event of %s", who, events).isInstanceOf(StreamEvent.Terminal.class);
    StreamEvent.Terminal term = (StreamEvent.Terminal) last;
    assertThat(term.outcome()).as("%s: terminal vs outcome()", who).isEqualTo(outcome);
    assertThat(term.sequence()).as("%s: terminal sequence", who).isEqualTo(outcome.tokens() + 1);
    if (outcome.status() == StreamOutcome.Status.COMPLETED) {
      assertThat(events).as("%s: no lost token under COMPLETED", who).hasSize((int) (outcome.tokens() - from + 1));
    }
  }

  /** Tokens from+1, from+2, ... in order, texts intact, no terminal among them. */
  static void checkPrefix(String who, List<StreamEvent> tokens, long from) {
    long expect = from + 1;
    for (StreamEvent e : tokens) {
      assertThat(e).as("%s: %s before the last event", who, e).isInstanceOf(StreamEvent.Token.class);
      StreamEvent.Token t = (StreamEvent.Token) e;
      assertThat(t.sequence()).as("%s: sequence in %s", who, tokens).isEqualTo(expect);
      assertThat(t.text()).as("%s: text of token %d (an overwritten slot?)", who, expect).isEqualTo("t" + expect);
      expect++;
    }
  }

  /**
   * Attaches after {@code lastSequence} as a client sending any number would: returns the reader,
   * or null if attach refused with one of its documented exceptions.
   */
  static StreamReader tryAttach(StreamHandle h, long lastSequence) {
    try {
      return h.attach(lastSequence);
    } catch (IllegalArgumentException | EventsDroppedException e) {
      return null;
    }
  }
}
