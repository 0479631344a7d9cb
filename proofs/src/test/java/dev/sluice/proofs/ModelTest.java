package dev.sluice.proofs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.DetachPolicy;
import dev.sluice.EventsDroppedException;
import dev.sluice.StreamCounters;
import dev.sluice.StreamEvent;
import dev.sluice.StreamHandle;
import dev.sluice.StreamManager;
import dev.sluice.StreamOutcome;
import dev.sluice.StreamOutcome.Status;
import dev.sluice.StreamReader;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.state.Action;
import net.jqwik.api.state.ActionChain;
import net.jqwik.api.state.Transformer;

/**
 * A model-based test of the whole public API: jqwik generates sequences of operations on one
 * manager (submit sources that complete, fail, hang until cancelled or ignore cancellation;
 * produce tokens; attach with hostile sequence numbers; poll; close readers; cancel; advance a
 * fake clock through every timeout; close the manager) and checks every step against a small
 * sequential model of the documented contract: the events each reader gets, in order; each
 * stream's state, outcome and whether {@code find} returns it; the counters. Shrinking reduces a
 * failing sequence to a minimal one.
 *
 * <p>Determinism: the clock and the scheduler are fake (timers fire only while the test advances
 * the clock, on the test's thread); each source runs on its own worker thread but only does what
 * the test tells it through a command queue, one command at a time, acknowledged before the next
 * step; reads never wait. So the system moves in the steps the model takes. Sends are kept within
 * the gate the model computes (slowest attached reader + bufferSize), so no send blocks: the gate
 * under contention is the exploration tests' job.
 *
 * <p>Tries per property: {@code jqwik.tries.default} in {@code junit-platform.properties} (60);
 * {@code -Pexplore} runs 2,000 ({@code -Djqwik.tries.default=N} for any other number).
 */
class ModelTest {

  static final int MAX_RUNNING = 2;
  static final int QUEUE = 1;
  static final int BUFFER = 4;
  static final int REPLAY = 32; // ring of 64: every token of a stream of <= 30 tokens stays retained
  static final int MAX_TOKENS = 30;
  static final Duration DEADLINE = Duration.ofSeconds(100);
  static final Duration FIRST_TOKEN = Duration.ofSeconds(10);
  static final Duration IDLE = Duration.ofSeconds(20);
  static final Duration NO_READER = Duration.ofSeconds(30);
  static final Duration RETENTION = Duration.ofSeconds(50);
  static final Duration STOP = Duration.ofMillis(200);

  @Property
  void cancelOnDetach_removeOnDelivery(@ForAll("cancelOnDetach") ActionChain<Sut> chain) {
    runChain(chain);
  }

  @Property
  void keepRunning_retainAfterDelivery(@ForAll("keepRunning") ActionChain<Sut> chain) {
    runChain(chain);
  }

  private static void runChain(ActionChain<Sut> chain) {
    chain.withInvariant("model", Sut::check);
    try {
      chain.run();
    } finally {
      chain.finalState().ifPresent(Sut::shutdown);
    }
  }

  @Provide
  Arbitrary<ActionChain<Sut>> cancelOnDetach() {
    return chain(() -> new Sut(DetachPolicy.CANCEL, true));
  }

  @Provide
  Arbitrary<ActionChain<Sut>> keepRunning() {
    return chain(() -> new Sut(DetachPolicy.KEEP_RUNNING, false));
  }

  private static Arbitrary<ActionChain<Sut>> chain(java.util.function.Supplier<Sut> initial) {
    return ActionChain.<Sut>startWith(initial)
        .withAction(3, new Submit())
        .withAction(4, new Produce())
        .withAction(1, new Complete())
        .withAction(1, new Fail())
        .withAction(2, new Cancel())
        .withAction(1, new Release())
        .withAction(4, new Attach())
        .withAction(5, new Read())
        .withAction(2, new CloseReader())
        .withAction(2, new Advance())
        .withAction(2, new Find())
        .withAction(1, new CloseManager())
        .withMaxTransformations(30);
  }

  // ------------------------------------------------------------------ actions

  static final class Submit implements Action.Independent<Sut> {
    @Override
    public Arbitrary<Transformer<Sut>> transformer() {
      return Arbitraries.of(true, false)
          .map(ignores -> Transformer.mutate("submit(" + (ignores ? "ignores cancel" : "honours cancel") + ")", s -> s.submit(ignores)));
    }
  }

  static final class Produce implements Action.Dependent<Sut> {
    @Override
    public boolean precondition(Sut s) {
      return s.any(m -> m.producing());
    }

    @Override
    public Arbitrary<Transformer<Sut>> transformer(Sut s) {
      return Arbitraries.of(s.indices(m -> m.producing()))
          .flatMap(i -> Arbitraries.integers().between(1, 6).map(n -> Transformer.mutate("produce(s" + i + ", " + n + ")", x -> x.produce(i, n))));
    }
  }

  static final class Complete implements Action.Dependent<Sut> {
    @Override
    public boolean precondition(Sut s) {
      return s.any(m -> m.producing());
    }

    @Override
    public Arbitrary<Transformer<Sut>> transformer(Sut s) {
      return Arbitraries.of(s.indices(m -> m.producing())).map(i -> Transformer.mutate("complete(s" + i + ")", x -> x.finishSource(i, Status.COMPLETED)));
    }
  }

  static final class Fail implements Action.Dependent<Sut> {
    @Override
    public boolean precondition(Sut s) {
      return s.any(m -> m.producing());
    }

    @Override
    public Arbitrary<Transformer<Sut>> transformer(Sut s) {
      return Arbitraries.of(s.indices(m -> m.producing())).map(i -> Transformer.mutate("fail(s" + i + ")", x -> x.finishSource(i, Status.FAILED)));
    }
  }

  static final class Cancel implements Action.Dependent<Sut> {
    @Override
    public boolean precondition(Sut s) {
      return !s.streams.isEmpty();
    }

    @Override
    public Arbitrary<Transformer<Sut>> transformer(Sut s) {
      return Arbitraries.integers().between(0, s.streams.size() - 1).map(i -> Transformer.mutate("cancel(s" + i + ")", x -> x.cancel(i)));
    }
  }

  static final class Release implements Action.Dependent<Sut> {
    @Override
    public boolean precondition(Sut s) {
      return s.any(m -> m.ignoresCancel && m.started && !m.returned && m.status != null);
    }

    @Override
    public Arbitrary<Transformer<Sut>> transformer(Sut s) {
      return Arbitraries.of(s.indices(m -> m.ignoresCancel && m.started && !m.returned && m.status != null))
          .map(i -> Transformer.mutate("release ignoring source(s" + i + ")", x -> x.release(i)));
    }
  }

  /** Attach with every kind of number a client may send: negative, 0, the tail, beyond it, near Long.MAX_VALUE. */
  static final class Attach implements Action.Dependent<Sut> {
    @Override
    public boolean precondition(Sut s) {
      return !s.streams.isEmpty();
    }

    @Override
    public Arbitrary<Transformer<Sut>> transformer(Sut s) {
      Arbitrary<Integer> which = Arbitraries.integers().between(0, s.streams.size() - 1);
      Arbitrary<String> kind = Arbitraries.of("0", "0", "tail", "tail-1", "tail+1", "tail+2", "-1", "MIN", "MAX", "MAX-1", "MAX-4");
      return which.flatMap(i -> kind.map(k -> Transformer.mutate("attach(s" + i + ", " + k + ")", x -> x.attach(i, k))));
    }
  }

  static final class Read implements Action.Dependent<Sut> {
    @Override
    public boolean precondition(Sut s) {
      return s.any(m -> !m.readersOpen().isEmpty());
    }

    @Override
    public Arbitrary<Transformer<Sut>> transformer(Sut s) {
      return Arbitraries.of(s.openReaders()).flatMap(r -> Arbitraries.integers().between(1, 4)
          .map(n -> Transformer.mutate("poll(" + r + ") x" + n, x -> x.read(r, n))));
    }
  }

  static final class CloseReader implements Action.Dependent<Sut> {
    @Override
    public boolean precondition(Sut s) {
      return s.any(m -> !m.readersOpen().isEmpty());
    }

    @Override
    public Arbitrary<Transformer<Sut>> transformer(Sut s) {
      return Arbitraries.of(s.openReaders()).map(r -> Transformer.mutate("close(" + r + ")", x -> x.closeReader(r)));
    }
  }

  /** Advances the fake clock by one of the timeouts (or a little), firing whatever falls due. */
  static final class Advance implements Action.Dependent<Sut> {
    @Override
    public boolean precondition(Sut s) {
      return s.queue.isEmpty(); // a queued stream would start mid-advance, at a time the model cannot know
    }

    @Override
    public Arbitrary<Transformer<Sut>> transformer(Sut s) {
      return Arbitraries.of(STOP, Duration.ofSeconds(1), FIRST_TOKEN, IDLE, NO_READER, RETENTION, DEADLINE)
          .map(d -> Transformer.mutate("advance(" + d + ")", x -> x.advance(d)));
    }
  }

  static final class Find implements Action.Dependent<Sut> {
    @Override
    public boolean precondition(Sut s) {
      return !s.streams.isEmpty();
    }

    @Override
    public Arbitrary<Transformer<Sut>> transformer(Sut s) {
      return Arbitraries.integers().between(0, s.streams.size() - 1).map(i -> Transformer.mutate("find(s" + i + ")", x -> x.find(i)));
    }
  }

  static final class CloseManager implements Action.Independent<Sut> {
    @Override
    public boolean precondition(Sut s) {
      return s.queue.isEmpty(); // close() cancelling the queue races a worker taking the next stream
    }

    @Override
    public Arbitrary<Transformer<Sut>> transformer() {
      return Arbitraries.just(Transformer.mutate("manager.close()", Sut::closeManager));
    }
  }

  // ------------------------------------------------------------------ system under test + model

  /** One source's remote control: it does only what the test tells it, one command at a time. */
  static final class Control {
    final BlockingQueue<String> commands = new LinkedBlockingQueue<>();
    final Semaphore acks = new Semaphore(0);
    final CountDownLatch started = new CountDownLatch(1);
    final CountDownLatch returned = new CountDownLatch(1);
  }

  /** The model of one stream, next to its handle. */
  static final class MStream {
    final int index;
    final boolean ignoresCancel;
    final StreamHandle handle;
    final Control control;
    final long submitAt;
    boolean started;
    boolean returned;
    long startAt = -1;
    long count;
    long firstTokenAt = -1;
    long lastTokenAt = -1;
    long noReaderSince;
    long floor;
    Status status; // null while RUNNING
    long endAt = -1;
    boolean aborted; // ended by cancel or timeout while its source ran
    boolean reported; // counted in ignoredCancellation
    boolean removed;
    boolean leftEarly; // a reader closed before its terminal event
    final List<MReader> readers = new ArrayList<>();

    MStream(int index, boolean ignoresCancel, StreamHandle handle, Control control, long now) {
      this.index = index;
      this.ignoresCancel = ignoresCancel;
      this.handle = handle;
      this.control = control;
      this.submitAt = now;
      this.noReaderSince = now;
    }

    boolean producing() {
      return status == null && started && count < MAX_TOKENS;
    }

    List<MReader> readersOpen() {
      List<MReader> open = new ArrayList<>();
      for (MReader r : readers) {
        if (!r.closed && !r.finished) {
          open.add(r);
        }
      }
      return open;
    }

    long gate() {
      long g = Long.MAX_VALUE;
      for (MReader r : readersOpen()) {
        g = Math.min(g, r.pos);
      }
      return g == Long.MAX_VALUE ? floor : g;
    }

  }

  static final class MReader {
    final MStream stream;
    final StreamReader real;
    final int number;
    long pos;
    boolean finished;
    boolean closed;

    MReader(MStream stream, StreamReader real, int number, long pos) {
      this.stream = stream;
      this.real = real;
      this.number = number;
      this.pos = pos;
    }

    @Override
    public String toString() {
      return "s" + stream.index + ".r" + number;
    }
  }

  static final class Sut {
    final FakeTime time = new FakeTime();
    final DetachPolicy policy;
    final boolean removeOnDelivery;
    final StreamManager manager;
    final List<MStream> streams = new ArrayList<>();
    final ArrayDeque<MStream> queue = new ArrayDeque<>();
    boolean closed;
    long submitted, rejected, evicted, ignored;
    int readerNumbers;

    Sut(DetachPolicy policy, boolean removeOnDelivery) {
      this.policy = policy;
      this.removeOnDelivery = removeOnDelivery;
      this.manager =
          StreamManager.builder()
              .maxRunning(MAX_RUNNING)
              .queueCapacity(QUEUE)
              .bufferSize(BUFFER)
              .replayWindow(REPLAY)
              .deadline(DEADLINE)
              .firstTokenTimeout(FIRST_TOKEN)
              .idleTimeout(IDLE)
              .noReaderTimeout(NO_READER)
              .retention(RETENTION)
              .stopTimeout(STOP)
              .detachPolicy(policy)
              .removeOnDelivery(removeOnDelivery)
              .ticker(time)
              .scheduler(time)
              .deliveryExecutor(Runnable::run)
              .executor(r -> {
                Thread t = new Thread(r, "model-worker");
                t.setDaemon(true);
                t.start();
              })
              .build();
    }

    long now() {
      return time.read();
    }

    boolean any(java.util.function.Predicate<MStream> p) {
      return streams.stream().anyMatch(p);
    }

    List<Integer> indices(java.util.function.Predicate<MStream> p) {
      List<Integer> out = new ArrayList<>();
      for (MStream m : streams) {
        if (p.test(m)) {
          out.add(m.index);
        }
      }
      return out;
    }

    List<MReader> openReaders() {
      List<MReader> out = new ArrayList<>();
      for (MStream m : streams) {
        out.addAll(m.readersOpen());
      }
      return out;
    }

    int slotsHeld() {
      int n = 0;
      for (MStream m : streams) {
        if (m.started && !m.returned) {
          n++;
        }
      }
      return n;
    }

    // ---- operations: each does it for real, then to the model, and compares what it can at once

    void submit(boolean ignoresCancel) {
      Control c = new Control();
      if (closed) {
        assertThatThrownBy(() -> manager.submit(source(c, ignoresCancel))).isInstanceOf(IllegalStateException.class);
        return;
      }
      boolean dispatch = slotsHeld() < MAX_RUNNING;
      boolean enqueue = !dispatch && this.queue.size() < QUEUE;
      if (!dispatch && !enqueue) {
        assertThatThrownBy(() -> manager.submit(source(c, ignoresCancel)))
            .as("submit with %d running and %d queued", slotsHeld(), this.queue.size())
            .isInstanceOf(RejectedExecutionException.class);
        rejected++;
        return;
      }
      StreamHandle h = manager.submit(source(c, ignoresCancel));
      submitted++;
      MStream m = new MStream(streams.size(), ignoresCancel, h, c, now());
      TEXTS.put(h.id(), "s" + m.index);
      streams.add(m);
      if (dispatch) {
        start(m);
      } else {
        this.queue.addLast(m);
      }
    }

    private void start(MStream m) {
      await(m.control.started, "source of s" + m.index + " to start");
      m.started = true;
      m.startAt = now();
    }

    void produce(int i, int n) {
      MStream m = streams.get(i);
      long k = Math.min(n, Math.min(MAX_TOKENS - m.count, m.gate() + BUFFER - m.count));
      if (k <= 0) {
        return;
      }
      m.control.commands.add("send " + k);
      acquire(m.control.acks, "s" + i + " to send " + k + " tokens within the gate");
      if (m.count == 0) {
        m.firstTokenAt = now();
      }
      m.count += k;
      m.lastTokenAt = now();
    }

    void finishSource(int i, Status how) {
      MStream m = streams.get(i);
      m.control.commands.add(how == Status.COMPLETED ? "complete" : "fail");
      await(m.control.returned, "source of s" + i + " to return");
      join(m.handle.outcome().toCompletableFuture(), "outcome of s" + i);
      end(m, how);
      sourceReturned(m);
    }

    void cancel(int i) {
      MStream m = streams.get(i);
      boolean won = m.handle.cancel();
      assertThat(won).as("cancel(s%d) wins iff it was running", i).isEqualTo(m.status == null);
      if (won) {
        abort(m, Status.CANCELLED);
      }
    }

    void release(int i) {
      MStream m = streams.get(i);
      m.control.commands.add("release");
      await(m.control.returned, "ignoring source of s" + i + " to return when released");
      sourceReturned(m);
    }

    void attach(int i, String kind) {
      MStream m = streams.get(i);
      long c = m.count;
      long s =
          switch (kind) {
            case "0" -> 0;
            case "tail" -> c;
            case "tail-1" -> c - 1;
            case "tail+1" -> c + 1;
            case "tail+2" -> c + 2;
            case "-1" -> -1;
            case "MIN" -> Long.MIN_VALUE;
            case "MAX" -> Long.MAX_VALUE;
            case "MAX-1" -> Long.MAX_VALUE - 1;
            case "MAX-4" -> Long.MAX_VALUE - 4;
            default -> throw new IllegalStateException(kind);
          };
      boolean ended = m.status != null;
      boolean valid = s >= 0 && (ended ? s < c + 1 : s <= c);
      if (!valid) {
        assertThatThrownBy(() -> m.handle.attach(s)).as("attach(%d) to s%d with %d tokens, %s", s, i, c, ended ? "ended" : "running")
            .isInstanceOf(IllegalArgumentException.class)
            .isNotInstanceOf(EventsDroppedException.class);
        return;
      }
      StreamReader r;
      try {
        r = m.handle.attach(s);
      } catch (RuntimeException e) {
        throw new AssertionError("attach(" + s + ") to s" + i + " with " + c + " tokens (all retained) threw " + e, e);
      }
      m.readers.add(new MReader(m, r, readerNumbers++, s));
      m.noReaderSince = -1;
    }

    void read(MReader r, int n) {
      for (int k = 0; k < n && !r.finished; k++) {
        StreamEvent e;
        try {
          e = r.real.poll(Duration.ZERO);
        } catch (InterruptedException ex) {
          throw new AssertionError(ex);
        }
        MStream m = r.stream;
        if (r.pos < m.count) {
          assertThat(e).as("%s: next event", r).isEqualTo(new StreamEvent.Token(r.pos + 1, "s" + m.index + "-" + (r.pos + 1)));
          r.pos++;
        } else if (m.status != null) {
          assertThat(e).as("%s: the terminal event, last", r).isInstanceOf(StreamEvent.Terminal.class);
          StreamEvent.Terminal t = (StreamEvent.Terminal) e;
          assertThat(t.sequence()).isEqualTo(m.count + 1);
          assertThat(t.status()).isEqualTo(m.status);
          assertThat(t.outcome().tokens()).isEqualTo(m.count);
          r.finished = true;
          m.floor = Math.max(m.floor, r.pos);
          // Remove on delivery only when nobody else may still need it: no other reader attached,
          // and none that left before its terminal (it may come back to resume). Issue 10, S5.
          if (removeOnDelivery && !m.removed && m.readersOpen().isEmpty() && !m.leftEarly) {
            m.removed = true;
          }
        } else {
          assertThat(e).as("%s: nothing to read yet", r).isNull();
          return;
        }
      }
      if (r.finished) {
        assertThat(r.real.isFinished()).isTrue();
        assertThatThrownBy(() -> r.real.poll(Duration.ZERO)).isInstanceOf(NoSuchElementException.class);
      }
    }

    void closeReader(MReader r) {
      r.real.close();
      r.closed = true;
      MStream m = r.stream;
      if (!r.finished) {
        m.leftEarly = true;
      }
      m.floor = Math.max(m.floor, r.pos);
      if (!m.readersOpen().isEmpty() || m.status != null) {
        return;
      }
      if (policy == DetachPolicy.CANCEL) {
        abort(m, Status.CANCELLED);
      } else {
        m.noReaderSince = now();
      }
    }

    /**
     * Advances the clock to {@code now + d} in pieces: first to each time a running stream times
     * out (waiting there for its source to return, as real time would let it), then to the end.
     * So a stop check due in the same advance finds the source returned, as the model says.
     */
    void advance(Duration d) {
      long target = now() + d.toNanos();
      for (; ; ) {
        long next = Long.MAX_VALUE;
        for (MStream m : streams) {
          if (m.status == null) {
            next = Math.min(next, expiry(m));
          }
        }
        if (next > target) {
          break;
        }
        time.advance(Duration.ofNanos(next - now()));
        for (MStream m : streams) {
          if (m.status == null && expiry(m) <= next) {
            abortAt(m, Status.TIMED_OUT, next);
          }
        }
      }
      time.advance(Duration.ofNanos(target - now()));
      for (MStream m : streams) {
        if (m.aborted && !m.reported && !m.returned && m.endAt + STOP.toNanos() <= target) {
          m.reported = true;
          ignored++;
        }
        if (m.status != null && !m.removed && m.endAt + RETENTION.toNanos() <= target) {
          m.removed = true;
          evicted++;
        }
      }
    }

    /** When a running stream times out: the first of its deadline, first-token, idle and no-reader timeouts. */
    private long expiry(MStream m) {
      long at = m.submitAt + DEADLINE.toNanos();
      if (m.started && m.firstTokenAt < 0) {
        at = Math.min(at, m.startAt + FIRST_TOKEN.toNanos());
      }
      if (m.lastTokenAt >= 0) {
        at = Math.min(at, m.lastTokenAt + IDLE.toNanos());
      }
      if (m.noReaderSince >= 0 && m.readersOpen().isEmpty()) {
        at = Math.min(at, m.noReaderSince + NO_READER.toNanos());
      }
      return at;
    }

    void find(int i) {
      MStream m = streams.get(i);
      assertThat(manager.find(m.handle.id())).as("find(s%d)", i).isEqualTo(m.removed ? java.util.Optional.empty() : java.util.Optional.of(m.handle));
    }

    void closeManager() {
      manager.close();
      if (closed) {
        return;
      }
      closed = true;
      for (MStream m : streams) {
        if (m.status == null) {
          abort(m, Status.CANCELLED);
        }
      }
      for (MStream m : streams) {
        if (m.started && !m.returned && !m.reported) {
          m.reported = true; // close() reports every source still running after the stop timeout
          ignored++;
        }
        m.removed = true;
      }
    }

    // ---- model transitions

    private void end(MStream m, Status status) {
      m.status = status;
      m.endAt = now();
    }

    /** The stream ends by cancel or timeout now; a source that honours cancellation returns. */
    private void abort(MStream m, Status status) {
      abortAt(m, status, now());
    }

    private void abortAt(MStream m, Status status, long at) {
      m.status = status;
      m.endAt = at;
      if (queue.remove(m)) {
        return; // never starts
      }
      if (m.started) {
        m.aborted = true;
        if (!m.ignoresCancel) {
          await(m.control.returned, "source of s" + m.index + " to return after " + status);
          sourceReturned(m);
        }
      }
    }

    private void sourceReturned(MStream m) {
      m.returned = true;
      MStream next = queue.pollFirst();
      if (next != null) {
        start(next);
      }
      awaitGauges(); // the worker is done with the source (and handed its slot on) before time moves
    }

    // ---- the invariant checked after every step

    void check() {
      awaitGauges();
      for (MStream m : streams) {
        String s = "s" + m.index;
        StreamHandle.State state =
            m.status == null ? StreamHandle.State.RUNNING : m.status == Status.CANCELLED ? StreamHandle.State.CANCELLED : StreamHandle.State.DONE;
        assertThat(m.handle.state()).as("%s: state", s).isEqualTo(state);
        CompletableFuture<StreamOutcome> f = m.handle.outcome().toCompletableFuture();
        if (m.status == null) {
          assertThat(f).as("%s: outcome while running", s).isNotDone();
        } else {
          StreamOutcome o = f.getNow(null);
          assertThat(o).as("%s: outcome once ended", s).isNotNull();
          assertThat(o.status()).as("%s: outcome status", s).isEqualTo(m.status);
          assertThat(o.tokens()).as("%s: outcome tokens", s).isEqualTo(m.count);
        }
        assertThat(manager.find(m.handle.id()).isPresent()).as("%s: findable", s).isEqualTo(!m.removed);
      }
      StreamCounters c = manager.counters();
      long completed = 0, cancelled = 0, failed = 0, timedOut = 0, retained = 0, tokens = 0;
      for (MStream m : streams) {
        tokens += m.count;
        if (m.status == null) {
          continue;
        }
        switch (m.status) {
          case COMPLETED -> completed++;
          case CANCELLED -> cancelled++;
          case FAILED -> failed++;
          case TIMED_OUT -> timedOut++;
          default -> throw new IllegalStateException(String.valueOf(m.status));
        }
        if (!m.removed) {
          retained++;
        }
      }
      StreamCounters expected =
          new StreamCounters(submitted, rejected, slotsHeld(), queue.size(), completed, cancelled, failed, timedOut, retained, evicted, tokens, 0, ignored);
      assertThat(c).as("counters").isEqualTo(expected);
    }

    /** The running gauge drops when the worker has handed back its slot, just after the source returned. */
    private void awaitGauges() {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (System.nanoTime() < deadline) {
        StreamCounters c = manager.counters();
        if (c.running() == slotsHeld() && c.queued() == queue.size()) {
          return;
        }
        Thread.onSpinWait();
        Thread.yield();
      }
    }

    void shutdown() {
      for (MStream m : streams) {
        m.control.commands.add("release");
      }
      manager.close();
    }

    @Override
    public String toString() {
      return "Sut" + streams.size() + " streams";
    }

    // ---- the source: a remote-controlled producer

    private static dev.sluice.TokenSource source(Control c, boolean ignoresCancel) {
      return sink -> {
        c.started.countDown();
        long sent = 0;
        int index = -1;
        try {
          for (; ; ) {
            String cmd;
            try {
              cmd = c.commands.take();
            } catch (InterruptedException e) {
              if (ignoresCancel) {
                continue; // ignores cancellation: waits for "release"
              }
              throw e;
            }
            if (cmd.startsWith("send ")) {
              long k = Long.parseLong(cmd.substring(5));
              try {
                for (long j = 0; j < k; j++) {
                  sent++;
                  sink.send(textOf(sink.streamId(), sent));
                }
              } finally {
                c.acks.release();
              }
            } else if (cmd.equals("complete") || cmd.equals("release")) {
              return;
            } else if (cmd.equals("fail")) {
              throw new IllegalStateException("boom");
            }
          }
        } finally {
          c.returned.countDown();
        }
      };
    }

    /** Token texts are "s<index>-<seq>"; the source learns its index from the registry of controls. */
    private static String textOf(String streamId, long seq) {
      return TEXTS.getOrDefault(streamId, "s?") + "-" + seq;
    }
  }

  /** Stream id -> "s<index>", filled by the test right after submit (before any send command). */
  static final java.util.concurrent.ConcurrentHashMap<String, String> TEXTS = new java.util.concurrent.ConcurrentHashMap<>();

  static void await(CountDownLatch latch, String what) {
    try {
      if (!latch.await(5, TimeUnit.SECONDS)) {
        throw new AssertionError("waited 5 s for " + what);
      }
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  static void acquire(Semaphore s, String what) {
    try {
      if (!s.tryAcquire(5, TimeUnit.SECONDS)) {
        throw new AssertionError("waited 5 s for " + what + " (a send blocked within the gate?)");
      }
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  static <T> T join(CompletableFuture<T> f, String what) {
    try {
      return f.get(5, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new AssertionError("waited 5 s for " + what, e);
    }
  }
}
