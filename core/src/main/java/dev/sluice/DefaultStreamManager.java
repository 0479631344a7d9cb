package dev.sluice;

import static java.util.Objects.requireNonNull;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Set;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The {@link StreamManager}. Package-private; built by {@link StreamManager.Builder}. */
final class DefaultStreamManager implements StreamManager {

  /*
   * Implementation notes.
   *
   * Admission is a counted set of worker slots (running <= maxRunning) and a FIFO queue, both
   * guarded by `admission`: submit is not the hot path, and a lock keeps "take a slot or queue or
   * wait" one atomic decision. A worker that finishes a source takes the next queued stream itself
   * (its slot passes on), so a slot is never free while streams wait.
   *
   * A stream keeps its slot until its source returns, even after the stream ended: sources that
   * ignore cancellation keep holding a thread, and counting them keeps the thread count bounded and
   * honest. They are reported after the stop timeout, and by close() from the registry and from
   * `removedWhileRunning` (streams removed before their worker returned: their terminal was read
   * while the source still ran), so that none is missed; that set stays empty unless a source lags.
   * whose worker holds a slot), whether or not they are still in the registry.
   *
   * A slot is free to the next submit a moment before the worker's task has returned to its
   * executor. An executor of exactly maxRunning threads may therefore reject a dispatch while a
   * worker is on its way out (`returning` > 0): dispatch retries for a bounded time before it gives
   * up, and any Throwable from execute() releases the slot and fails that stream.
   *
   * User callbacks triggered by the library (cancel hooks, listener onTerminal/onEvicted, outcome
   * dependents) run on the delivery executor via callback(): never on the timer thread or on the
   * thread that cancels. If that executor fails, on a new thread; if that fails too, inline.
   *
   * The registry holds every stream from submit until its single removal (DefaultStream.tryRemove).
   * Owner scoping is a field comparison on lookup: a stream of another owner is indistinguishable
   * from an unknown id.
   */

  private static final Logger log = LoggerFactory.getLogger(DefaultStreamManager.class);

  // ---- configuration ----
  final int maxRunning;
  final int queueCapacity;
  final long submitTimeoutNanos;
  final int bufferSize;
  final int ringSize;
  final long deadlineNanos;
  final long firstTokenTimeoutNanos;
  final long idleTimeoutNanos;
  final long noReaderTimeoutNanos;
  final long retentionNanos;
  final long stopTimeoutNanos;
  final boolean removeOnDelivery;
  final DetachPolicy detachPolicy;
  final long slowReaderTimeoutNanos;
  final SlowReaderPolicy slowReaderPolicy;
  final Ticker ticker;
  final ScheduledExecutorService scheduler;
  private final Executor executor;
  final Executor deliveryExecutor;
  private final @Nullable ExecutorService ownedExecutor;
  private final @Nullable ScheduledExecutorService ownedScheduler;
  /** The listeners, in the order added; each call contained. */
  private final StreamListener[] listeners;
  private final boolean hasListener;
  private final StreamIds ids = new StreamIds();

  private final ConcurrentHashMap<String, DefaultStream> registry = new ConcurrentHashMap<>();

  // ---- admission; guarded by `admission` ----
  private final ReentrantLock admission = new ReentrantLock();
  private final Condition notFull = admission.newCondition();
  private final Condition allReturned = admission.newCondition();
  private final ArrayDeque<DefaultStream> queue = new ArrayDeque<>();
  /** Streams whose worker holds a slot (dispatched, not yet returned). */
  private final Set<DefaultStream> removedWhileRunning = new HashSet<>();
  private int running;
  // ---- the guarded clock; see now(). Opaque: any recent value will do ----
  @SuppressWarnings("UnusedVariable") // accessed through the VarHandles only
  private long lastTick;

  /** System.nanoTime() when the ticker began to throw; 0 while it works. */
  @SuppressWarnings("UnusedVariable")
  private long failingSince;

  /** The ticker's last good reading when it began to throw. */
  @SuppressWarnings("UnusedVariable")
  private long failingBase;

  @SuppressWarnings("UnusedVariable")
  private long nextTickerLog;

  /** Workers that released their slot and whose executor task has not yet returned. */
  private final AtomicInteger returning = new AtomicInteger();
  /** System.nanoTime() when a worker task last returned; 0 before any did. */
  private volatile long lastReturn;
  /** Written under the lock; volatile so that the timer path can read it without the lock. */
  private volatile boolean closed;

  // ---- counters ----
  private final LongAdder submitted = new LongAdder();
  private final LongAdder rejected = new LongAdder();
  private final LongAdder completed = new LongAdder();
  private final LongAdder cancelled = new LongAdder();
  private final LongAdder failed = new LongAdder();
  private final LongAdder timedOut = new LongAdder();
  private final LongAdder retained = new LongAdder();
  private final LongAdder evicted = new LongAdder();
  private final LongAdder endedTokens = new LongAdder();
  final LongAdder droppedAfterCancel = new LongAdder();
  private final LongAdder ignoredCancellation = new LongAdder();
  private volatile int runningGauge;
  private volatile int queuedGauge;

  DefaultStreamManager(StreamManager.Builder b) {
    maxRunning = b.maxRunning;
    queueCapacity = b.queueCapacity;
    submitTimeoutNanos = b.submitTimeoutNanos;
    bufferSize = b.bufferSize;
    ringSize = Integer.highestOneBit(Math.max(1, b.bufferSize + b.replayWindow - 1)) << 1;
    deadlineNanos = b.deadlineNanos;
    firstTokenTimeoutNanos = b.firstTokenTimeoutNanos;
    idleTimeoutNanos = b.idleTimeoutNanos;
    noReaderTimeoutNanos = b.noReaderTimeoutNanos;
    retentionNanos = b.retentionNanos;
    stopTimeoutNanos = b.stopTimeoutNanos;
    removeOnDelivery = b.removeOnDelivery;
    detachPolicy = b.detachPolicy;
    slowReaderTimeoutNanos = b.slowReaderTimeoutNanos;
    slowReaderPolicy = b.slowReaderPolicy;
    ticker = b.ticker;
    try {
      lastTick = ticker.read(); // a good first reading, so that a later failure has a base
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("ticker " + ticker + " failed on its first read: " + e, e);
    }
    listeners = b.listeners.toArray(new StreamListener[0]);
    hasListener = listeners.length > 0;
    Executor userExecutor = b.executor;
    if (userExecutor != null) {
      executor = userExecutor;
      ownedExecutor = null;
    } else {
      Executor owned = Workers.newDefaultExecutor(maxRunning);
      executor = owned;
      ownedExecutor = owned instanceof ExecutorService service ? service : null;
    }
    Executor userDelivery = b.deliveryExecutor;
    deliveryExecutor = userDelivery != null ? userDelivery : Workers.deliveryExecutor();
    ScheduledExecutorService userScheduler = b.scheduler;
    if (userScheduler != null) {
      scheduler = userScheduler;
      ownedScheduler = null;
    } else {
      ScheduledThreadPoolExecutor owned =
          new ScheduledThreadPoolExecutor(1, Workers.daemonFactory("sluice-timer"));
      owned.setRemoveOnCancelPolicy(true);
      owned.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
      scheduler = owned;
      ownedScheduler = owned;
    }
  }

  // ------------------------------------------------------------------ submit and find

  @Override
  public StreamHandle submit(TokenSource source) {
    return submit0(null, Map.of(), source);
  }

  @Override
  public StreamHandle submit(String owner, TokenSource source) {
    return submit0(requireOwner(owner), Map.of(), source);
  }

  @Override
  public StreamHandle submit(Map<String, String> attributes, TokenSource source) {
    return submit0(null, requireAttributes(attributes), source);
  }

  @Override
  public StreamHandle submit(String owner, Map<String, String> attributes, TokenSource source) {
    return submit0(requireOwner(owner), requireAttributes(attributes), source);
  }

  /** Validates and copies submit attributes; the message names the bad entry. */
  static Map<String, String> requireAttributes(Map<String, String> attributes) {
    requireNonNull(attributes, "attributes");
    if (attributes.size() > 32) {
      throw new IllegalArgumentException(
          "attributes must have at most 32 entries, got " + attributes.size());
    }
    for (Map.Entry<String, String> e : attributes.entrySet()) {
      String key = e.getKey();
      String value = e.getValue();
      if (key == null || key.isBlank() || key.length() > 128) {
        throw new IllegalArgumentException(
            "attribute keys must be non-blank and at most 128 characters, got "
                + (key == null ? "null" : "\"" + (key.length() > 40 ? key.substring(0, 40) + "..." : key) + "\""));
      }
      if (value == null || value.length() > 1024) {
        throw new IllegalArgumentException(
            "attribute \""
                + key
                + "\" must have a value of at most 1024 characters, got "
                + (value == null ? "null" : value.length() + " characters"));
      }
    }
    return Map.copyOf(attributes);
  }

  private StreamHandle submit0(
      @Nullable String owner, Map<String, String> attributes, TokenSource source) {
    requireNonNull(source, "source");
    DefaultStream stream = new DefaultStream(this, ids.next(), owner, attributes, source);
    boolean dispatch;
    admission.lock();
    try {
      long nanos = submitTimeoutNanos;
      for (; ; ) {
        if (closed) {
          throw new IllegalStateException("StreamManager is closed");
        }
        if (running < maxRunning) {
          running++;
          dispatch = true;
          break;
        }
        if (queue.size() < queueCapacity) {
          queue.addLast(stream);
          stream.queued = true;
          dispatch = false;
          break;
        }
        if (nanos <= 0) {
          rejected.increment();
          throw new RejectedExecutionException(
              "queue is full: "
                  + queueCapacity
                  + " streams waiting, "
                  + running
                  + " running (maxRunning "
                  + maxRunning
                  + ")");
        }
        try {
          nanos = notFull.awaitNanos(nanos);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          rejected.increment();
          throw new RejectedExecutionException("interrupted while waiting for room in the queue", e);
        }
      }
      // Registered while the lock is held, so close() cannot miss it.
      registry.put(stream.id, stream);
      submitted.increment();
      updateGauges();
    } finally {
      admission.unlock();
    }
    stream.scheduleNext(now()); // never throws: a scheduler that fails fails the stream
    notifyListeners(stream, "onSubmit", l -> l.onSubmit(stream));
    if (dispatch) {
      dispatch(stream);
    }
    return stream;
  }

  @Override
  public Optional<StreamHandle> find(String id) {
    return find0(null, id);
  }

  @Override
  public Optional<StreamHandle> find(String owner, String id) {
    return find0(requireOwner(owner), id);
  }

  private Optional<StreamHandle> find0(@Nullable String owner, String id) {
    StreamIds.requireWellFormed(id);
    DefaultStream s = registry.get(id);
    return s != null && s.ownedBy(owner) ? Optional.of(s) : Optional.empty();
  }

  private static String requireOwner(String owner) {
    requireNonNull(owner, "owner");
    if (owner.isBlank()) {
      throw new IllegalArgumentException("owner must not be blank, got \"" + owner + "\"");
    }
    return owner;
  }

  // ------------------------------------------------------------------ workers

  /** Longest time dispatch retries an executor that rejects while a worker is on its way out. */
  private static final long DISPATCH_RETRY_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

  /**
   * Runs {@code first} on a worker, then whatever is queued, on the same slot. A stream the executor
   * will not run fails with a message saying why, and its slot goes to the next queued stream.
   */
  private void dispatch(DefaultStream first) {
    for (DefaultStream s = first; s != null; ) {
      Throwable failure = execute(s);
      if (failure == null) {
        return;
      }
      String why =
          failure instanceof RejectedExecutionException
              ? "executor rejected the worker: "
              : "executor failed to start the worker: ";
      log.warn("stream {}: {}", s.id, why, failure);
      try {
        s.terminate(DefaultStream.S_FAILED, why + failure, failure);
      } catch (Throwable e) {
        log.error("stream {}: failing it failed", s.id, e);
      }
      DefaultStream failed = s;
      s = releaseSlot(s);
      dropSourceOf(failed); // it will never run
      if (s == null) {
        returning.decrementAndGet(); // no task of ours was running: nothing is on its way out
      }
    }
  }

  /** Hands {@code s} to the executor; null on success, else what it threw. */
  private @Nullable Throwable execute(DefaultStream s) {
    long deadline = 0;
    for (int attempt = 0; ; attempt++) {
      try {
        executor.execute(() -> work(s));
        return null;
      } catch (RejectedExecutionException e) {
        // A worker that released its slot may not be back in its pool yet: retry while one is
        // (and a little after), so that an executor of exactly maxRunning threads works.
        long now = System.nanoTime();
        if (attempt == 0) {
          deadline = now + DISPATCH_RETRY_NANOS;
        }
        long last = lastReturn;
        boolean workerLeaving =
            returning.get() > 0 || (last != 0 && now - last < DISPATCH_RETRY_NANOS);
        if (closed || !workerLeaving || now - deadline >= 0) {
          return e;
        }
        if (attempt < 16) {
          Thread.yield();
        } else {
          LockSupport.parkNanos(Math.min(1L << Math.min(attempt - 16, 20), 1_000_000L));
        }
      } catch (Throwable e) {
        return e;
      }
    }
  }

  private void work(DefaultStream first) {
    try {
      for (DefaultStream s = first; s != null; s = releaseSlot(s)) { // the slot is always released
        try {
          s.runWorker();
        } catch (Throwable e) { // runWorker contains the source; this is a bug of ours
          log.error("stream {}: worker failed", s.id, e);
          try {
            s.terminate(DefaultStream.S_FAILED, "worker failed: " + e, e);
          } catch (Throwable again) {
            log.error("stream {}: failing it failed", s.id, again);
          }
        }
      }
    } finally {
      lastReturn = System.nanoTime();
      returning.decrementAndGet(); // the last thing this task does
    }
  }

  /**
   * The worker of {@code done} frees its slot, or hands it to the next queued stream, which it
   * returns. When it frees the slot, the caller's task is on its way out ({@link #returning}).
   */
  private @Nullable DefaultStream releaseSlot(DefaultStream done) {
    admission.lock();
    try {
      DefaultStream next = queue.pollFirst();
      if (next != null) {
        next.queued = false;
        notFull.signal();
      } else {
        returning.incrementAndGet();
        running--;
        if (running == 0) {
          allReturned.signalAll();
        }
        notFull.signal();
      }
      updateGauges();
      return next;
    } finally {
      admission.unlock();
    }
  }

  private void updateGauges() {
    runningGauge = running;
    queuedGauge = queue.size();
  }

  // ------------------------------------------------------------------ callbacks from streams

  /** Calls {@code event} on every listener, each contained: one that throws is logged. */
  private void notifyListeners(DefaultStream s, String what, Consumer<StreamListener> event) {
    for (StreamListener l : listeners) {
      try {
        event.accept(l);
      } catch (Throwable e) {
        log.warn("stream {}: listener {} threw", s.id, what, e);
      }
    }
  }

  void notifyStart(DefaultStream s) {
    notifyListeners(s, "onStart", l -> l.onStart(s));
  }

  void notifyFirstToken(DefaultStream s, Duration ttft) {
    notifyListeners(s, "onFirstToken", l -> l.onFirstToken(s, ttft));
  }

  /** Counts a stream's end and takes it out of the queue; internal, on the terminating thread. */
  void countTerminal(DefaultStream s, StreamOutcome o) {
    LongAdder byStatus =
        switch (o.status()) {
          case COMPLETED -> completed;
          case CANCELLED -> cancelled;
          case FAILED -> failed;
          case TIMED_OUT -> timedOut;
        };
    byStatus.increment();
    endedTokens.add(o.tokens());
    retained.increment();
    if (s.queued) { // racy pre-check; confirmed under the lock
      admission.lock();
      try {
        if (s.queued && queue.remove(s)) {
          s.queued = false;
          s.dropSource(); // it will never run: do not keep the prompt and its client until removal
          notFull.signal();
          updateGauges();
        }
      } finally {
        admission.unlock();
      }
    }
    if (o.status() == StreamOutcome.Status.TIMED_OUT) {
      log.info("stream {} timed out: {}", s.id, o.message());
    }
  }

  /**
   * Hands the end of a stream to the user's callbacks on the delivery executor: the listener, then
   * the outcome future, so that whoever waits on the outcome sees what the listener recorded.
   */
  void notifyTerminal(DefaultStream s, StreamOutcome o) {
    if (!hasListener) {
      CompletableFuture<StreamOutcome> f = s.listenersNotified();
      if (f != null) {
        callback(s.id, "outcome dependents", () -> f.complete(o));
      }
      return;
    }
    callback(
        s.id,
        "listener onTerminal / outcome dependents",
        () -> {
          notifyListeners(s, "onTerminal", l -> l.onTerminal(s, o));
          CompletableFuture<StreamOutcome> f = s.listenersNotified();
          if (f != null) {
            f.complete(o);
          }
        });
  }

  private void dropSourceOf(DefaultStream s) {
    admission.lock();
    try {
      s.dropSource();
    } finally {
      admission.unlock();
    }
  }

  /**
   * The ticker's reading. A user ticker that throws is contained: logged, and its last good
   * reading used, so that no internal path (a terminal transition, a timer) fails because of it.
   */
  long now() {
    try {
      long t = ticker.read();
      LAST_TICK.setOpaque(this, t);
      if ((long) FAILING_SINCE.getOpaque(this) != 0) {
        FAILING_SINCE.setOpaque(this, 0L);
      }
      return t;
    } catch (Throwable e) {
      return nowWithoutTicker(e);
    }
  }

  /**
   * While the ticker throws, time goes on from its last good reading at the rate of {@link
   * System#nanoTime()}, so that deadlines still pass; logged once a second at most.
   */
  private long nowWithoutTicker(Throwable e) {
    long sys = System.nanoTime();
    long since = (long) FAILING_SINCE.getOpaque(this);
    if (since == 0) {
      since = sys == 0 ? 1 : sys;
      FAILING_SINCE.setOpaque(this, since);
      FAILING_BASE.setOpaque(this, (long) LAST_TICK.getOpaque(this));
    }
    long nextLog = (long) NEXT_LOG.getOpaque(this);
    if (sys - nextLog >= 0 && NEXT_LOG.compareAndSet(this, nextLog, sys + 1_000_000_000L)) {
      log.error("the ticker {} threw; time goes on from its last reading at System.nanoTime's rate", ticker, e);
    }
    return (long) FAILING_BASE.getOpaque(this) + (sys - since);
  }

  /**
   * Runs a user callback on the delivery executor, contained: what it throws is logged. If the
   * executor throws, on a new thread; if that fails too, on the calling thread.
   */
  void callback(String streamId, String what, Runnable callback) {
    Runnable contained =
        () -> {
          try {
            callback.run();
          } catch (Throwable e) {
            log.warn("stream {}: {} threw", streamId, what, e);
          }
        };
    try {
      deliveryExecutor.execute(contained);
      return;
    } catch (Throwable e) {
      log.warn("stream {}: the delivery executor failed to run its {}; using a new thread", streamId, what, e);
    }
    try {
      Thread t = new Thread(contained, "sluice-callback-" + streamId);
      t.setDaemon(true);
      t.start();
    } catch (Throwable e) {
      log.error("stream {}: no thread for its {}; running it here", streamId, what, e);
      contained.run();
    }
  }

  /** The worker of {@code s} returned after its stream was removed: it no longer needs reporting. */
  void forgetRemovedWhileRunning(DefaultStream s) {
    admission.lock();
    try {
      if (s.removedWhileRunning) {
        s.removedWhileRunning = false;
        removedWhileRunning.remove(s);
      }
    } finally {
      admission.unlock();
    }
  }

  void onRemoved(DefaultStream s, boolean byTimer) {
    registry.remove(s.id, s);
    if (!s.workerReturned()) { // its terminal was read while its source still runs
      admission.lock();
      try {
        // Write the flag, then read the worker's state; the worker writes its state, then reads
        // the flag (DefaultStream.removedWhileRunning): one of the two takes it out again.
        s.removedWhileRunning = true;
        removedWhileRunning.add(s);
        if (s.workerReturned()) {
          s.removedWhileRunning = false;
          removedWhileRunning.remove(s);
        }
      } finally {
        admission.unlock();
      }
    }
    retained.decrement();
    if (byTimer) {
      evicted.increment();
      if (hasListener) {
        callback(s.id, "listener onEvicted", () -> notifyListeners(s, "onEvicted", l -> l.onEvicted(s)));
      }
    }
  }

  void reportIgnoredCancellation(DefaultStream s) {
    if (s.markStopReported()) {
      ignoredCancellation.increment();
      log.warn(
          "stream {}: source did not return within {} of its stream ending ({}); it still holds a worker",
          s.id,
          Duration.ofNanos(stopTimeoutNanos),
          s.state());
    }
  }

  // ------------------------------------------------------------------ counters and close

  @Override
  public StreamCounters counters() {
    long liveTokens = 0;
    for (DefaultStream s : registry.values()) {
      if (s.state() == StreamHandle.State.RUNNING) {
        liveTokens += s.tokenCount();
      }
    }
    return new StreamCounters(
        submitted.sum(),
        rejected.sum(),
        runningGauge,
        queuedGauge,
        completed.sum(),
        cancelled.sum(),
        failed.sum(),
        timedOut.sum(),
        retained.sum(),
        evicted.sum(),
        endedTokens.sum() + liveTokens,
        droppedAfterCancel.sum(),
        ignoredCancellation.sum());
  }

  @Override
  public void close() {
    admission.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      notFull.signalAll();
    } finally {
      admission.unlock();
    }
    for (DefaultStream s : registry.values()) {
      s.terminate(DefaultStream.S_CANCELLED, "manager closed", null);
    }
    boolean interrupted = false;
    admission.lock();
    try {
      long nanos = stopTimeoutNanos;
      while (running > 0 && nanos > 0) {
        try {
          nanos = allReturned.awaitNanos(nanos);
        } catch (InterruptedException e) {
          interrupted = true;
          break;
        }
      }
    } finally {
      admission.unlock();
    }
    List<String> stuck = new ArrayList<>();
    List<DefaultStream> holding;
    admission.lock();
    try {
      holding = new ArrayList<>(registry.values());
      holding.addAll(removedWhileRunning);
    } finally {
      admission.unlock();
    }
    for (DefaultStream s : holding) {
      if (!s.workerReturned()) {
        stuck.add(s.id);
        if (s.markStopReported()) {
          ignoredCancellation.increment();
        }
      }
    }
    if (!stuck.isEmpty()) {
      log.warn(
          "StreamManager closed with {} source(s) still running {} after cancellation: {}",
          stuck.size(),
          Duration.ofNanos(stopTimeoutNanos),
          stuck);
    }
    if (ownedScheduler != null) {
      ownedScheduler.shutdownNow();
    }
    if (ownedExecutor != null) {
      ownedExecutor.shutdown();
    }
    for (DefaultStream s : registry.values()) {
      s.tryRemove(false);
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** Whether close() has begun; lock-free, for the timer path (which holds a stream's monitor). */
  boolean closing() {
    return closed;
  }

  @Override
  public String toString() {
    return "StreamManager" + counters();
  }

  /** Waits (real time) until no worker slot is in use; for tests. */
  boolean awaitIdle(long timeout, TimeUnit unit) throws InterruptedException {
    long nanos = unit.toNanos(timeout);
    admission.lock();
    try {
      while (running > 0) {
        if (nanos <= 0) {
          return false;
        }
        nanos = allReturned.awaitNanos(nanos);
      }
      return true;
    } finally {
      admission.unlock();
    }
  }

  int registrySize() {
    return registry.size();
  }

  private static final VarHandle LAST_TICK;
  private static final VarHandle FAILING_SINCE;
  private static final VarHandle FAILING_BASE;
  private static final VarHandle NEXT_LOG;

  static {
    try {
      MethodHandles.Lookup l = MethodHandles.lookup();
      LAST_TICK = l.findVarHandle(DefaultStreamManager.class, "lastTick", long.class);
      FAILING_SINCE = l.findVarHandle(DefaultStreamManager.class, "failingSince", long.class);
      FAILING_BASE = l.findVarHandle(DefaultStreamManager.class, "failingBase", long.class);
      NEXT_LOG = l.findVarHandle(DefaultStreamManager.class, "nextTickerLog", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }
}
