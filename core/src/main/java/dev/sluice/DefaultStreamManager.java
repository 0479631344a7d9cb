package dev.sluice;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.Condition;
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
   * honest. They are reported after the stop timeout.
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
  private final StreamListener listener;
  private final StreamIds ids = new StreamIds();

  private final ConcurrentHashMap<String, DefaultStream> registry = new ConcurrentHashMap<>();

  // ---- admission; guarded by `admission` ----
  private final ReentrantLock admission = new ReentrantLock();
  private final Condition notFull = admission.newCondition();
  private final Condition allReturned = admission.newCondition();
  private final ArrayDeque<DefaultStream> queue = new ArrayDeque<>();
  private int running;
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
    listener = b.listener;
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
    return submit0(null, source);
  }

  @Override
  public StreamHandle submit(String owner, TokenSource source) {
    return submit0(requireOwner(owner), source);
  }

  private StreamHandle submit0(@Nullable String owner, TokenSource source) {
    requireNonNull(source, "source");
    DefaultStream stream = new DefaultStream(this, ids.next(), owner, source);
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
    stream.scheduleNext(ticker.read());
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

  /** Runs {@code first} on a worker, then whatever is queued, on the same slot. */
  private void dispatch(DefaultStream first) {
    try {
      executor.execute(() -> work(first));
    } catch (RejectedExecutionException e) {
      log.warn("stream {}: executor rejected the worker", first.id, e);
      first.terminate(DefaultStream.S_FAILED, "executor rejected the worker: " + e, e);
      DefaultStream next = releaseSlot();
      if (next != null) {
        dispatch(next);
      }
    }
  }

  private void work(DefaultStream first) {
    for (DefaultStream s = first; s != null; s = releaseSlot()) {
      try {
        s.runWorker();
      } catch (Throwable e) { // runWorker contains the source; this is a bug of ours, keep the slot
        log.error("stream {}: worker failed", s.id, e);
        s.terminate(DefaultStream.S_FAILED, "worker failed: " + e, e);
      }
    }
  }

  /** Frees the caller's slot, or hands it to the next queued stream, which it returns. */
  private @Nullable DefaultStream releaseSlot() {
    admission.lock();
    try {
      DefaultStream next = queue.pollFirst();
      if (next != null) {
        next.queued = false;
        notFull.signal();
      } else {
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

  void notifyStart(DefaultStream s) {
    try {
      listener.onStart(s);
    } catch (Throwable e) {
      log.warn("stream {}: listener onStart threw", s.id, e);
    }
  }

  void notifyFirstToken(DefaultStream s, Duration ttft) {
    try {
      listener.onFirstToken(s, ttft);
    } catch (Throwable e) {
      log.warn("stream {}: listener onFirstToken threw", s.id, e);
    }
  }

  void onTerminal(DefaultStream s, StreamOutcome o) {
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
    try {
      listener.onTerminal(s, o);
    } catch (Throwable e) {
      log.warn("stream {}: listener onTerminal threw", s.id, e);
    }
  }

  void onRemoved(DefaultStream s, boolean byTimer) {
    registry.remove(s.id, s);
    retained.decrement();
    if (byTimer) {
      evicted.increment();
      try {
        listener.onEvicted(s);
      } catch (Throwable e) {
        log.warn("stream {}: listener onEvicted threw", s.id, e);
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
    for (DefaultStream s : registry.values()) {
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
}
