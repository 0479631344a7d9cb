package dev.sluice;

import static java.util.Objects.requireNonNull;

import dev.sluice.StreamOutcome.Status;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * One stream: the {@link StreamHandle} its clients hold and the {@link TokenSink} its source writes
 * to. Package-private; created by {@link DefaultStreamManager}.
 */
final class DefaultStream implements StreamHandle, TokenSink {

  /*
   * Implementation notes.
   *
   * The stream is a single-producer ring of String slots, a set of reader cursors (fan-out), and a
   * state machine, coordinated through these words:
   *
   *   tail: [status:3 | count:61]   status RUNNING until the one terminal transition; count = tokens
   *                                  published. The producer publishes a token by CAS(count -> count+1)
   *                                  with status RUNNING; a terminator CASes the status bits. So the
   *                                  transition and the final token count are decided by one atomic
   *                                  step: a token is either in the stream (its CAS won, send returns)
   *                                  or refused (its CAS lost, send throws). The terminal event's
   *                                  sequence number is count + 1 of that CAS.
   *   cursors: each attached reader's position (DefaultReader), moved by CAS. The producer may
   *            publish sequence s only if s <= min(cursors) + bufferSize, so the slots after every
   *            cursor stay intact while it stays. With no reader attached, `floor` (the highest
   *            position of readers that left) stands in for the minimum.
   *   limit:   the highest sequence the producer may have been permitted, published (volatile) before
   *            it re-reads the reader set. An attaching reader adds itself and then reads `limit`:
   *            either the producer's re-read sees the new reader, or the reader sees the limit, so a
   *            reader only attaches where nothing it needs can be overwritten (Dekker again).
   *
   * The ring holds slots = nextPowerOfTwo(bufferSize + replayWindow) entries and is allocated on the
   * first token. Slot j is overwritten only by token j + slots <= limit, so everything after
   * limit - slots is intact: a late or resuming reader may start anywhere after it (replayWindow
   * tokens behind the slowest reader, at least), from the first token if it is all retained.
   *
   * A slow reader is backpressure: the producer waits for it. With a slow-reader timeout, the
   * stream's timer cuts a reader that has held the producer back that long (DETACH or SKIP).
   *
   * The terminal event is not stored in the ring but in its own field, the slot reserved for it:
   * emitting it is one volatile write, so it never blocks and never fails for lack of room (seed bug
   * #3, the muted messenger). It is also the outcome every observer reads, so they all agree.
   *
   * Blocking spins briefly, then parks, with a waiter field for the producer and one per reader. A
   * side publishes its waiter (volatile write) and then re-reads the other side's word; the other side
   * writes its word (a CAS, a full fence) and then reads the waiter. Under sequential consistency of
   * volatile accesses one of them sees the other, so no wake-up is lost (Dekker). A waker claims the
   * waiter by CAS before unparking, so one park costs one unpark; a reader wakes a parked producer only
   * once half the buffer is free. Every way a stream ends -- cancel, the last reader detaching under
   * CANCEL, a timeout, close -- goes through terminate(), which seals the tail and unparks the producer
   * and every reader (seed bug #1, zombie writers).
   *
   * Cleanup (seed bug #2): the worker never touches the registry. Removal is decided by one CAS on
   * `removed`, between the reader that receives the terminal event and the retention timer.
   */

  private static final Logger log = LoggerFactory.getLogger(DefaultStream.class);

  /** MDC key under which the stream id is logged while its source runs. */
  static final String MDC_KEY = "sluice.stream";

  // ---- tail word ----
  static final int STATUS_SHIFT = 61;
  static final long COUNT_MASK = (1L << STATUS_SHIFT) - 1;
  static final int S_RUNNING = 0;
  static final int S_CANCELLED = 1;
  static final int S_COMPLETED = 2;
  static final int S_FAILED = 3;
  static final int S_TIMED_OUT = 4;

  // ---- worker states ----
  static final int W_NEW = 0;
  static final int W_RUNNING = 1;
  static final int W_INTERRUPTING = 2;
  static final int W_INTERRUPTED = 3;
  static final int W_RETURNED = 4;

  /** Sentinel for "no such time yet" in the nanosecond fields. */
  static final long NONE = Long.MIN_VALUE;

  /**
   * Busy-wait rounds before parking: a wake-up costs tens of microseconds, a spin a few ns, but
   * spinning only pays while the other side runs on another core (as in LinkedTransferQueue: 64,
   * none on one CPU). 256 measured 2-3x slower than 64 on a loaded 2-core machine (bench/PROFILING.md).
   * The system property {@code sluice.spins} overrides it, for tuning on other hardware.
   */
  static final int SPINS =
      Integer.getInteger("sluice.spins", Runtime.getRuntime().availableProcessors() < 2 ? 0 : 64);

  /** Marks the hook stack as fired (hooks ran) or discarded (stream ended by its source). */
  private static final HookNode FIRED = new HookNode(() -> {}, null);

  private static final HookNode DISCARDED = new HookNode(() -> {}, null);

  final DefaultStreamManager manager;
  final String id;
  final @Nullable String owner;
  private final TokenSource source;
  private final Ticker ticker;
  final int capacity;
  final int mask;

  /**
   * The state machine and the published token count; see the implementation notes.
   *
   * <p>Possible status transitions, exactly one per stream, each a CAS from RUNNING:
   *
   * <pre>
   * RUNNING -> CANCELLED   cancel(), reader detach (CANCEL policy), manager close
   * RUNNING -> COMPLETED   the source returned (worker)
   * RUNNING -> FAILED      the source threw, was interrupted in send, or could not be started
   * RUNNING -> TIMED_OUT   a timer found a deadline passed
   * </pre>
   *
   * Ownership: while RUNNING the worker owns the source and this sink, and only it adds tokens. The
   * winner of the transition emits the terminal event (one write to {@link #terminal}), wakes both
   * waiters, runs the cancel hooks and interrupts the worker when the source is still running, and
   * hands the stream to its manager, which schedules retention. The worker never removes the stream
   * from the registry; {@link #removed} decides who does.
   */
  private volatile long tail;

  /** The attached readers; copy-on-write, replaced by CAS. */
  private volatile DefaultReader[] readers = NO_READERS;

  private static final DefaultReader[] NO_READERS = new DefaultReader[0];

  /** Highest sequence the producer may have been permitted to write; monotonic. See the notes. */
  private volatile long limit;

  /** Highest position of readers that have left: the gate while none is attached; monotonic. */
  private volatile long floor;

  /** When the producer began waiting for space (ticker); NONE while it is not waiting. */
  private volatile long blockedSince = NONE;

  /**
   * The token slots, allocated by the producer before its first publish. Non-volatile: published by
   * the CAS on {@link #tail} that publishes the first token, read only after reading a count > 0.
   */
  private @Nullable String @Nullable [] ring;

  /** The limit of the producer's last gate check. Producer thread only. */
  private long limitCache;

  /**
   * The sequence the parked producer waits to write. Written by the producer before it publishes
   * {@link #producerWaiter} (volatile), read by readers after reading it.
   */
  private long pendingSeq;

  /** The terminal event, the slot reserved for it: null while RUNNING, written once by the winner. */
  private volatile StreamEvent.@Nullable Terminal terminal;

  /** The producer's thread while it is parked in send, or null. */
  private volatile @Nullable Thread producerWaiter;

  /**
   * Worker lifecycle, for interrupting it safely (as FutureTask does):
   *
   * <pre>
   * NEW -> RUNNING -> RETURNED                       normal return
   * NEW -> RUNNING -> INTERRUPTING -> INTERRUPTED -> RETURNED   interrupted by a terminator
   * </pre>
   *
   * A terminator interrupts only after CASing RUNNING -> INTERRUPTING, so an interrupt never
   * reaches the thread after the source returned; the worker waits for INTERRUPTED and clears the
   * interrupt before the thread goes back to its executor.
   */
  private volatile int worker;

  /** The worker thread, set before worker becomes RUNNING. */
  private volatile @Nullable Thread runner;

  /** Cleanup: 0 while registered, 1 once removed. One CAS decides the single remover. */
  private volatile int removed;

  /** Cancel hooks: a Treiber stack, or FIRED / DISCARDED once the stream ended. */
  private volatile @Nullable HookNode hooks;

  /** Guarded by the manager's admission lock: true while waiting in its queue. */
  boolean queued;

  // ---- times, in ticker nanos; NONE until they happen ----
  private final long submitNanos;
  private volatile long startNanos = NONE;
  private volatile long firstTokenNanos = NONE;
  /** Written per token with opaque mode, only when an idle timeout is configured. */
  @SuppressWarnings("UnusedVariable") // accessed through LAST_TOKEN only
  private long lastTokenNanos = NONE;
  /** When the last reader went away (or submit); NONE while a reader is attached. */
  private volatile long noReaderSince;
  private volatile long endNanos = NONE;
  /** When the stream was aborted while its source ran; NONE unless a stop check is pending. */
  private volatile long abortedNanos = NONE;

  // ---- the stream's single timer entry; guarded by this ----
  private @Nullable ScheduledFuture<?> timer;
  private long timerAt = NONE;
  private long timerSeq;
  private boolean stopReported;

  /**
   * The outcome future, created on the first call to outcome() (most streams are read, not
   * awaited). Completed by terminate() once it has settled, or by outcome() if it comes later.
   */
  private volatile @Nullable CompletableFuture<StreamOutcome> outcome;

  /** Set last by terminate(): counters, timers and listener are done, the future may complete. */
  private volatile boolean settled;

  DefaultStream(DefaultStreamManager manager, String id, @Nullable String owner, TokenSource source) {
    this.manager = manager;
    this.id = id;
    this.owner = owner;
    this.source = source;
    this.ticker = manager.ticker;
    this.capacity = manager.bufferSize;
    this.mask = manager.ringSize - 1;
    this.submitNanos = ticker.read();
    this.noReaderSince = submitNanos;
  }

  // ------------------------------------------------------------------ StreamHandle

  @Override
  public String id() {
    return id;
  }

  @Override
  public State state() {
    int status = statusOf(tail);
    return switch (status) {
      case S_RUNNING -> State.RUNNING;
      case S_CANCELLED -> State.CANCELLED;
      case S_COMPLETED, S_FAILED, S_TIMED_OUT -> State.DONE;
      default -> throw new IllegalStateException("unknown status " + status);
    };
  }

  @Override
  public boolean cancel() {
    return terminate(S_CANCELLED, "cancelled", null);
  }

  @Override
  public CompletionStage<StreamOutcome> outcome() {
    CompletableFuture<StreamOutcome> f = outcome;
    if (f == null) {
      CompletableFuture<StreamOutcome> created = new CompletableFuture<>();
      f = OUTCOME.compareAndSet(this, null, created) ? created : outcome;
      if (f == null) {
        throw new AssertionError("outcome future lost");
      }
      // Dekker with terminate(): it sets `settled` then reads `outcome`; we set `outcome` then
      // read `settled`. One of the two completes the future.
      StreamEvent.Terminal term = terminal;
      if (settled && term != null) {
        f.complete(term.outcome());
      }
    }
    return f.minimalCompletionStage();
  }

  @Override
  public StreamReader attach() {
    return attach(0);
  }

  @Override
  public StreamReader attach(long lastSequence) {
    if (lastSequence < 0) {
      throw new IllegalArgumentException("lastSequence must be >= 0, got " + lastSequence);
    }
    return attachReader(lastSequence, null);
  }

  /** Attaches a reader; {@code signal} makes it a demand-driven (Flow) reader. */
  DefaultReader attachReader(long lastSequence, @Nullable Runnable signal) {
    if (lastSequence < 0) {
      throw new IllegalArgumentException("lastSequence must be >= 0, got " + lastSequence);
    }
    DefaultReader r = new DefaultReader(this, lastSequence, signal);
    addReader(r); // first: from here on the producer's gate checks include r
    long t = tail;
    long count = t & COUNT_MASK;
    boolean ended = statusOf(t) != S_RUNNING;
    long last = ended ? count + 1 : count;
    // Slot j is overwritten by token j + slots, written only up to the published limit. After the
    // end the producer writes nothing more, except that a send refused by the seal has already
    // written its slot, count + 1, which is also the slot of count + 1 - slots: not retained.
    long firstRetained = Math.max(1, (ended ? count + 1 : limit) - mask);
    try {
      if (lastSequence > last || (ended && lastSequence == last)) {
        throw new IllegalArgumentException(
            "lastSequence "
                + lastSequence
                + " is beyond the last event of stream "
                + id
                + " ("
                + (ended ? "terminal event " + last : "last token " + count)
                + ")");
      }
      if (lastSequence + 1 < firstRetained && lastSequence < count) {
        throw new EventsDroppedException(id, lastSequence + 1, firstRetained);
      }
    } catch (RuntimeException e) {
      r.release();
      removeReader(r);
      throw e;
    }
    if (noReaderSince != NONE) {
      noReaderSince = NONE;
      retime(ticker.read()); // the no-reader deadline is gone: free its timer entry if it was next
    }
    return r;
  }

  @Override
  public java.util.concurrent.Flow.Publisher<StreamEvent> publisher() {
    return new StreamPublisher(this, manager.deliveryExecutor);
  }

  @Override
  public Optional<Duration> timeToFirstToken() {
    long first = firstTokenNanos;
    long start = startNanos;
    return first == NONE || start == NONE
        ? Optional.empty()
        : Optional.of(Duration.ofNanos(first - start));
  }

  @Override
  public double tokensPerSecond() {
    long first = firstTokenNanos;
    long count = tail & COUNT_MASK;
    if (first == NONE || count < 2) {
      return 0;
    }
    long end = endNanos;
    long elapsed = (end == NONE ? ticker.read() : end) - first;
    return elapsed <= 0 ? 0 : (count - 1) * 1e9 / elapsed;
  }

  // ------------------------------------------------------------------ TokenSink

  @Override
  public String streamId() {
    return id;
  }

  @Override
  public boolean isCancelled() {
    return statusOf(tail) != S_RUNNING;
  }

  @Override
  public void send(String token) {
    requireNonNull(token, "token");
    long t = tail;
    if (statusOf(t) != S_RUNNING) {
      throw refused(t);
    }
    long seq = (t & COUNT_MASK) + 1;
    if (seq > limitCache) {
      awaitSpace(seq);
    }
    @Nullable String[] r = ring;
    if (r == null) {
      ring = r = new String[mask + 1];
    }
    r[(int) (seq & mask)] = token;
    if (seq == 1) {
      // Before publishing: whoever holds token 1 must also see timeToFirstToken().
      firstTokenNanos = ticker.read();
    }
    if (!TAIL.compareAndSet(this, t, t + 1)) {
      if (seq == 1) {
        firstTokenNanos = NONE; // the token was refused, so there is no first token
      }
      long now = tail;
      if (statusOf(now) != S_RUNNING) {
        throw refused(now);
      }
      throw new IllegalStateException(
          "concurrent TokenSink.send on stream " + id + ": sends must not overlap");
    }
    for (DefaultReader reader : readers) {
      reader.wake();
    }
    if (seq == 1) {
      onFirstToken();
    } else if (manager.idleTimeoutNanos != 0) {
      LAST_TOKEN.setOpaque(this, ticker.read());
    }
  }

  @Override
  public void onCancel(Runnable hook) {
    requireNonNull(hook, "hook");
    for (HookNode head = hooks; ; head = hooks) {
      if (head == FIRED) {
        runHook(hook);
        return;
      }
      if (head == DISCARDED) {
        return;
      }
      if (HOOKS.compareAndSet(this, head, new HookNode(hook, head))) {
        return;
      }
    }
  }

  /** Waits until sequence {@code seq} fits in the buffer, or throws once the stream has ended. */
  private void awaitSpace(long seq) {
    int spins = SPINS;
    for (; ; ) {
      long allowed = permitted();
      if (seq <= allowed) {
        limitCache = allowed;
        if (blockedSince != NONE) {
          blockedSince = NONE;
        }
        return;
      }
      long t = tail;
      if (statusOf(t) != S_RUNNING) {
        throw refused(t);
      }
      if (spins > 0) {
        --spins;
        Thread.onSpinWait();
        continue;
      }
      if (blockedSince == NONE && manager.slowReaderTimeoutNanos != 0) {
        long now = ticker.read();
        blockedSince = now;
        scheduleNext(now);
      }
      Thread me = Thread.currentThread();
      pendingSeq = seq;
      producerWaiter = me;
      if (seq > permitted() && statusOf(tail) == S_RUNNING) {
        LockSupport.park(this);
      }
      producerWaiter = null;
      if (Thread.interrupted()) {
        // Not ours if the stream still runs: someone wants this thread to stop. Fail the stream
        // rather than spin on a set interrupt flag, and keep the flag for the source.
        terminate(
            S_FAILED,
            "interrupted while blocked in send",
            new InterruptedException("interrupted while blocked in TokenSink.send"));
        me.interrupt();
      }
    }
  }

  /**
   * The highest sequence the producer may write now: the slowest reader's position plus the
   * buffer. Publishes a higher limit before re-reading the readers, so that a reader attaching
   * concurrently either is seen here or sees the limit (see the implementation notes).
   */
  private long permitted() {
    long allowed = gate() + capacity;
    if (allowed > limit) {
      limit = allowed;
      allowed = Math.min(allowed, gate() + capacity);
    }
    return allowed;
  }

  /** The slowest attached reader's position, or the floor when none gates. */
  private long gate() {
    long g = DefaultReader.GONE;
    for (DefaultReader r : readers) {
      g = Math.min(g, r.position());
    }
    return g == DefaultReader.GONE ? floor : g;
  }

  private StreamCancelledException refused(long t) {
    manager.droppedAfterCancel.increment();
    StreamEvent.Terminal term = terminal;
    String why = term != null && term.outcome().message() != null ? term.outcome().message() : null;
    Status status = toStatus(statusOf(t));
    return new StreamCancelledException(
        id,
        status,
        "stream " + id + " no longer accepts tokens: " + (why != null ? why : status));
  }

  private void onFirstToken() {
    long now = firstTokenNanos;
    if (manager.idleTimeoutNanos != 0) {
      LAST_TOKEN.setOpaque(this, now);
    }
    long start = startNanos;
    manager.notifyFirstToken(this, Duration.ofNanos(start == NONE ? 0 : now - start));
    if (manager.idleTimeoutNanos != 0) {
      scheduleNext(now);
    }
  }

  // ------------------------------------------------------------------ reading (DefaultReader)

  long tailVolatile() {
    return tail;
  }


  StreamEvent.@Nullable Terminal terminalEvent() {
    return terminal;
  }

  /** The token with sequence {@code seq}; the caller has read a count >= seq from the tail. */
  String tokenAt(long seq) {
    @Nullable String[] r = ring;
    if (r == null) {
      throw new IllegalStateException("stream " + id + ": no buffer for token " + seq);
    }
    String s = r[(int) (seq & mask)];
    if (s == null) {
      throw new IllegalStateException("stream " + id + ": token " + seq + " missing");
    }
    return s;
  }

  /**
   * Called by a reader that moved its cursor to {@code position}: wakes a parked producer once it
   * could write half a buffer, not at the first free slot, so that a fast producer and reader do
   * not trade one wake-up per token. Live: a reader that has read everything leaves the producer a
   * whole buffer, which crosses the threshold.
   */
  void readerAdvanced(long position) {
    Thread w = producerWaiter;
    if (w != null
        && position + capacity - pendingSeq + 1 >= Math.max(1, capacity >> 1)
        && PRODUCER_WAITER.compareAndSet(this, w, null)) {
      LockSupport.unpark(w);
    }
  }

  /**
   * Wakes the producer if it waits for space, whatever it could write (a reader left or was cut,
   * the stream ended). The
   * waker claims the waiter by CAS, so one park costs one unpark however many tokens are read
   * before the producer runs again.
   */
  void wakeProducer() {
    Thread w = producerWaiter;
    if (w != null && PRODUCER_WAITER.compareAndSet(this, w, null)) {
      LockSupport.unpark(w);
    }
  }

  /**
   * Detaches {@code r}: it stops holding the producer back, and if it was the last reader and had
   * not finished, the detach policy applies. Idempotent.
   *
   * @param why the cancellation message when this cancels the stream; null for "reader detached"
   */
  void detach(DefaultReader r, boolean finished, @Nullable String why) {
    long position = r.release();
    if (!removeReader(r)) {
      return;
    }
    if (position != DefaultReader.GONE) {
      raiseFloor(position);
    }
    wakeProducer();
    if (finished || readers.length != 0) {
      return;
    }
    if (manager.detachPolicy == DetachPolicy.CANCEL) {
      terminate(S_CANCELLED, why != null ? why : "reader detached", null);
    } else if (statusOf(tail) == S_RUNNING) {
      long now = ticker.read();
      noReaderSince = now;
      scheduleNext(now);
    }
  }

  private void raiseFloor(long position) {
    for (long f = floor; position > f; f = floor) {
      if (FLOOR.compareAndSet(this, f, position)) {
        return;
      }
    }
  }

  private void addReader(DefaultReader r) {
    for (; ; ) {
      DefaultReader[] old = readers;
      DefaultReader[] grown = java.util.Arrays.copyOf(old, old.length + 1);
      grown[old.length] = r;
      if (READERS.compareAndSet(this, old, grown)) {
        return;
      }
    }
  }

  private boolean removeReader(DefaultReader r) {
    for (; ; ) {
      DefaultReader[] old = readers;
      int i = 0;
      while (i < old.length && old[i] != r) {
        i++;
      }
      if (i == old.length) {
        return false;
      }
      DefaultReader[] shrunk = new DefaultReader[old.length - 1];
      System.arraycopy(old, 0, shrunk, 0, i);
      System.arraycopy(old, i + 1, shrunk, i, old.length - i - 1);
      if (READERS.compareAndSet(this, old, shrunk)) {
        return true;
      }
    }
  }

  /**
   * Applies the slow-reader policy to every reader holding the producer back; called by the timer
   * once the producer has waited for space longer than the slow-reader timeout.
   */
  private void cutSlowReaders(long now) {
    long newest = tail & COUNT_MASK;
    long pending = newest + 1;
    boolean detach = manager.slowReaderPolicy == SlowReaderPolicy.DETACH;
    String reason =
        "reader too slow: held the producer back for "
            + Duration.ofNanos(manager.slowReaderTimeoutNanos);
    for (DefaultReader r : readers) {
      long c = r.position();
      if (c != DefaultReader.GONE && pending > c + capacity && r.cut(c, detach ? reason : null, newest)) {
        log.info("stream {}: {} ({} tokens behind)", id, detach ? reason : "reader skipped ahead", newest - c);
        if (detach) {
          detach(r, false, reason);
        }
      }
    }
    if (blockedSince != NONE) {
      blockedSince = now; // if it blocks again, measure afresh
    }
    wakeProducer();
  }

  /** Called by each reader that receives the terminal event. */
  void terminalDelivered() {
    if (manager.removeOnDelivery) {
      tryRemove(false);
    }
  }

  // ------------------------------------------------------------------ worker

  /** Runs the source on the current (worker) thread; the caller releases the worker slot after. */
  void runWorker() {
    runner = Thread.currentThread();
    worker = W_RUNNING;
    try {
      if (statusOf(tail) != S_RUNNING) {
        return; // cancelled between admission and start
      }
      long now = ticker.read();
      startNanos = now;
      scheduleNext(now);
      MDC.put(MDC_KEY, id);
      manager.notifyStart(this);
      try {
        source.run(this);
        if (terminate(S_COMPLETED, null, null)) {
          log.debug("stream {} completed", id);
        }
      } catch (StreamCancelledException e) {
        if (statusOf(tail) == S_RUNNING) {
          // Not this stream's refusal: the source threw someone else's cancellation.
          terminate(S_FAILED, String.valueOf(e), e);
        }
      } catch (Throwable e) {
        if (terminate(S_FAILED, String.valueOf(e), e)) {
          log.debug("stream {} failed", id, e);
        } else {
          log.debug("stream {} source threw after the stream ended", id, e);
        }
        if (e instanceof VirtualMachineError) {
          log.error("stream {}: source threw {}", id, e.toString());
        }
      }
    } finally {
      if (!WORKER.compareAndSet(this, W_RUNNING, W_RETURNED)) {
        while (worker != W_INTERRUPTED) {
          Thread.onSpinWait();
        }
        Thread.interrupted(); // our interrupt, meant for the source, not for the executor's thread
        worker = W_RETURNED;
      }
      runner = null;
      MDC.remove(MDC_KEY);
      boolean late;
      synchronized (this) {
        late = stopReported;
      }
      if (late) {
        log.warn("stream {}: source returned at last, after being reported as ignoring cancellation", id);
      }
    }
  }

  boolean workerReturned() {
    int w = worker;
    return w == W_RETURNED || (w == W_NEW && runner == null);
  }

  /** Marks the source as reported for ignoring cancellation; true the first time. */
  synchronized boolean markStopReported() {
    if (stopReported || workerReturned()) {
      return false;
    }
    stopReported = true;
    return true;
  }

  // ------------------------------------------------------------------ the terminal transition

  /**
   * Makes the one transition out of RUNNING.
   *
   * @return true if this call made it; false if the stream had already ended
   */
  boolean terminate(int status, @Nullable String message, @Nullable Throwable cause) {
    long t;
    do {
      t = tail;
      if (statusOf(t) != S_RUNNING) {
        return false;
      }
    } while (!TAIL.compareAndSet(this, t, t | ((long) status << STATUS_SHIFT)));

    // Won. Emit the terminal event: one write to the slot reserved for it (the last gasp).
    long count = t & COUNT_MASK;
    long now = ticker.read();
    endNanos = now;
    StreamOutcome result = new StreamOutcome(toStatus(status), count, message, cause);
    terminal = new StreamEvent.Terminal(count + 1, result);
    for (DefaultReader r : readers) {
      r.wake();
    }
    wakeProducer();

    if (status == S_CANCELLED) {
      log.debug("stream {} cancelled: {}", id, message);
    }
    boolean abort = status == S_CANCELLED || status == S_TIMED_OUT;
    if (abort) {
      // The source may still run: stop its upstream work and wake it.
      fireHooks();
      interruptWorker();
      if (!workerReturned() && worker != W_NEW) {
        abortedNanos = now;
      }
    } else {
      HOOKS.getAndSet(this, DISCARDED);
    }
    manager.onTerminal(this, result);
    scheduleNext(now); // retention, and the stop check of an aborted source
    // Last, so that whoever waits on the outcome sees the counters and the timers in place.
    settled = true;
    CompletableFuture<StreamOutcome> f = outcome;
    if (f != null) {
      f.complete(result);
    }
    return true;
  }

  private void fireHooks() {
    HookNode head = (HookNode) HOOKS.getAndSet(this, FIRED);
    // Run in registration order: reverse the stack.
    HookNode reversed = null;
    for (HookNode n = head; n != null && n != FIRED && n != DISCARDED; n = n.next) {
      reversed = new HookNode(n.hook, reversed);
    }
    for (HookNode n = reversed; n != null; n = n.next) {
      runHook(n.hook);
    }
  }

  private void runHook(Runnable hook) {
    try {
      hook.run();
    } catch (Throwable e) {
      log.warn("stream {}: onCancel hook threw", id, e);
    }
  }

  private void interruptWorker() {
    if (WORKER.compareAndSet(this, W_RUNNING, W_INTERRUPTING)) {
      try {
        Thread t = runner;
        if (t != null) {
          t.interrupt();
        }
      } finally {
        worker = W_INTERRUPTED;
      }
    }
  }

  /** Removes this stream from the registry if nobody did; exactly one caller wins. */
  boolean tryRemove(boolean byTimer) {
    if (statusOf(tail) == S_RUNNING || !REMOVED.compareAndSet(this, 0, 1)) {
      return false;
    }
    synchronized (this) {
      // Keep the timer while a stop check is pending: a source that ignores cancellation must be
      // reported even when its stream's terminal event was delivered (and it left) first.
      if (timer != null && abortedNanos == NONE) {
        timer.cancel(false);
        timer = null;
        timerAt = NONE;
      }
    }
    manager.onRemoved(this, byTimer);
    return true;
  }

  boolean isRemoved() {
    return removed != 0;
  }

  // ------------------------------------------------------------------ timers

  /**
   * Makes sure the stream's timer fires no later than its next deadline. One scheduled entry per
   * stream: an earlier deadline replaces a later entry; a later one waits for the earlier entry,
   * which re-evaluates everything when it fires.
   */
  void scheduleNext(long now) {
    long delay = nextDelay(now);
    if (delay < 0) {
      return;
    }
    synchronized (this) {
      // Compare remaining delays, not absolute times: differences never overflow.
      if ((removed != 0 && abortedNanos == NONE) || (timer != null && timerAt - now <= delay)) {
        return;
      }
      if (timer != null) {
        timer.cancel(false);
      }
      long seq = ++timerSeq;
      timerAt = now + delay;
      try {
        timer = manager.scheduler.schedule(() -> onTimer(seq), delay, TimeUnit.NANOSECONDS);
      } catch (RejectedExecutionException e) {
        timer = null;
        if (!manager.closing()) { // while closing, close() takes over; otherwise timers are lost
          log.warn(
              "stream {}: the scheduler rejected its timer, so its timeouts and retention will not"
                  + " run: was {} shut down while the manager is open?",
              id,
              manager.scheduler,
              e);
        }
      }
    }
  }

  /**
   * Like {@link #scheduleNext}, but also for a deadline that moved later or went away: replaces a
   * timer entry that would fire too early, or cancels it. Keeps idle streams free of timer entries
   * they no longer need.
   */
  private void retime(long now) {
    long delay = nextDelay(now);
    synchronized (this) {
      if (timer != null && (delay < 0 || timerAt - now < delay)) {
        timer.cancel(false);
        timer = null;
      }
    }
    scheduleNext(now);
  }

  private void onTimer(long seq) {
    synchronized (this) {
      if (seq == timerSeq) {
        timer = null;
      }
    }
    long now = ticker.read();
    if (statusOf(tail) == S_RUNNING) {
      String expired = expiredTimeout(now);
      if (expired != null) {
        terminate(S_TIMED_OUT, expired, null);
        return;
      }
      long blocked = blockedSince;
      if (blocked != NONE
          && manager.slowReaderTimeoutNanos != 0
          && now - blocked >= manager.slowReaderTimeoutNanos) {
        cutSlowReaders(now);
      }
    } else {
      long aborted = abortedNanos;
      if (aborted != NONE && now - aborted >= manager.stopTimeoutNanos) {
        abortedNanos = NONE;
        manager.reportIgnoredCancellation(this);
      }
      long end = endNanos;
      if (end != NONE && now - end >= manager.retentionNanos) {
        tryRemove(true); // and go on: a stop check may still be pending
      }
    }
    scheduleNext(now);
  }

  private @Nullable String expiredTimeout(long now) {
    DefaultStreamManager m = manager;
    if (m.deadlineNanos != 0 && now - submitNanos >= m.deadlineNanos) {
      return "deadline of " + Duration.ofNanos(m.deadlineNanos) + " passed";
    }
    long start = startNanos;
    long first = firstTokenNanos;
    if (m.firstTokenTimeoutNanos != 0
        && start != NONE
        && first == NONE
        && now - start >= m.firstTokenTimeoutNanos) {
      return "no first token within " + Duration.ofNanos(m.firstTokenTimeoutNanos);
    }
    long last = (long) LAST_TOKEN.getOpaque(this);
    if (m.idleTimeoutNanos != 0 && last != NONE && now - last >= m.idleTimeoutNanos) {
      return "no token for " + Duration.ofNanos(m.idleTimeoutNanos) + " (idle timeout)";
    }
    long since = noReaderSince;
    if (m.noReaderTimeoutNanos != 0
        && since != NONE
        && readers.length == 0
        && now - since >= m.noReaderTimeoutNanos) {
      return "no reader attached for " + Duration.ofNanos(m.noReaderTimeoutNanos);
    }
    return null;
  }

  /**
   * Nanoseconds from {@code now} until something about this stream may change by itself (0 if
   * overdue), or -1 if nothing will. Computed as {@code timeout - elapsed}: both are non-negative
   * longs, so even a timeout of 290 years cannot overflow.
   */
  private long nextDelay(long now) {
    DefaultStreamManager m = manager;
    long delay = -1;
    if (statusOf(tail) == S_RUNNING) {
      if (m.deadlineNanos != 0) {
        delay = sooner(delay, now, submitNanos, m.deadlineNanos);
      }
      long start = startNanos;
      if (m.firstTokenTimeoutNanos != 0 && start != NONE && firstTokenNanos == NONE) {
        delay = sooner(delay, now, start, m.firstTokenTimeoutNanos);
      }
      long last = (long) LAST_TOKEN.getOpaque(this);
      if (m.idleTimeoutNanos != 0 && last != NONE) {
        delay = sooner(delay, now, last, m.idleTimeoutNanos);
      }
      long since = noReaderSince;
      // Same condition as expiredTimeout(): a detach racing an attach may leave a stale
      // noReaderSince behind while a reader is attached, and a due-but-not-expired deadline
      // would re-arm the timer with delay 0 forever.
      if (m.noReaderTimeoutNanos != 0 && since != NONE && readers.length == 0) {
        delay = sooner(delay, now, since, m.noReaderTimeoutNanos);
      }
      long blocked = blockedSince;
      if (m.slowReaderTimeoutNanos != 0 && blocked != NONE) {
        delay = sooner(delay, now, blocked, m.slowReaderTimeoutNanos);
      }
    } else {
      long aborted = abortedNanos;
      if (aborted != NONE) {
        delay = sooner(delay, now, aborted, m.stopTimeoutNanos);
      }
      long end = endNanos;
      if (end != NONE && removed == 0) {
        delay = sooner(delay, now, end, m.retentionNanos);
      }
    }
    return delay;
  }

  /** min(delay, what is left of {@code timeout} started at {@code since}); -1 means none yet. */
  private static long sooner(long delay, long now, long since, long timeout) {
    long left = Math.max(0, timeout - Math.max(0, now - since));
    return delay < 0 ? left : Math.min(delay, left);
  }

  // ------------------------------------------------------------------ helpers

  static int statusOf(long tail) {
    return (int) (tail >>> STATUS_SHIFT);
  }

  static Status toStatus(int status) {
    return switch (status) {
      case S_CANCELLED -> Status.CANCELLED;
      case S_COMPLETED -> Status.COMPLETED;
      case S_FAILED -> Status.FAILED;
      case S_TIMED_OUT -> Status.TIMED_OUT;
      default -> throw new IllegalStateException("no outcome for status " + status);
    };
  }

  long tokenCount() {
    return tail & COUNT_MASK;
  }

  boolean ownedBy(@Nullable String candidate) {
    return owner == null ? candidate == null : owner.equals(candidate);
  }

  @Override
  public String toString() {
    long t = tail;
    return "Stream[" + id + ", " + state() + ", tokens=" + (t & COUNT_MASK) + "]";
  }

  /** A node of the cancel-hook stack. */
  private static final class HookNode {
    final Runnable hook;
    final @Nullable HookNode next;

    HookNode(Runnable hook, @Nullable HookNode next) {
      this.hook = hook;
      this.next = next;
    }
  }

  // ------------------------------------------------------------------ VarHandles

  private static final VarHandle TAIL;
  private static final VarHandle READERS;
  private static final VarHandle PRODUCER_WAITER;
  private static final VarHandle OUTCOME;
  private static final VarHandle FLOOR;
  private static final VarHandle WORKER;
  private static final VarHandle REMOVED;
  private static final VarHandle HOOKS;
  private static final VarHandle LAST_TOKEN;

  static {
    try {
      MethodHandles.Lookup l = MethodHandles.lookup();
      TAIL = l.findVarHandle(DefaultStream.class, "tail", long.class);
      READERS = l.findVarHandle(DefaultStream.class, "readers", DefaultReader[].class);
      PRODUCER_WAITER = l.findVarHandle(DefaultStream.class, "producerWaiter", Thread.class);
      OUTCOME = l.findVarHandle(DefaultStream.class, "outcome", CompletableFuture.class);
      FLOOR = l.findVarHandle(DefaultStream.class, "floor", long.class);
      WORKER = l.findVarHandle(DefaultStream.class, "worker", int.class);
      REMOVED = l.findVarHandle(DefaultStream.class, "removed", int.class);
      HOOKS = l.findVarHandle(DefaultStream.class, "hooks", HookNode.class);
      LAST_TOKEN = l.findVarHandle(DefaultStream.class, "lastTokenNanos", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }
}
