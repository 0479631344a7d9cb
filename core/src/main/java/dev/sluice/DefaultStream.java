package dev.sluice;

import static java.util.Objects.requireNonNull;

import dev.sluice.StreamOutcome.Status;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;
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
   * A stream is three parts, each with one kind of synchronization:
   *
   *   TokenRing    the slots, the tail word, the readers and the producer's gate: Dekker pairs,
   *                tabled and proven there.
   *   this class   the lifecycle: the one terminal transition (decided by the ring's seal CAS), the
   *                terminal event, the worker, the cancel hooks, removal and the outcome: each a
   *                CAS-decided state machine, documented at its field.
   *   StreamTimer  the stream's times and its single timer entry, guarded by the timer's own
   *                monitor (internal: nothing a user holds).
   *
   * The terminal event is not stored in the ring but in its own field, the slot reserved for it:
   * emitting it is one volatile write, so it never blocks and never fails for lack of room (seed bug
   * #3, the muted messenger). It is also the outcome every observer reads, so they all agree.
   *
   * After the terminal CAS, terminate() does the internal work first -- the terminal event, waking
   * the blocked readers and the producer, interrupting the worker, counters, the timer -- and only
   * then the calls that leave the library: executor calls for the Flow readers, and the user
   * callbacks (cancel hooks, listener, outcome dependents), which run on the delivery executor, never
   * on the thread that ended the stream. Each step is contained, so no Throwable skips the rest, and
   * a callback that blocks delays only itself (seed bug #1's cousin: a cancel that waits).
   *
   * Cleanup (seed bug #2): the worker never touches the registry. Removal is decided by one CAS on
   * `removed`, between the reader that receives the terminal event and the retention timer.
   *
   * The one Dekker pair of this class (the ring's are tabled in TokenRing):
   *
   *   pair  side A writes, then reads            side B writes, then reads
   *   D     listenersNotified(): notified,       outcome(): outcome (CAS), then notified
   *         then outcome
   *
   * so that the outcome future is completed by one of them, whichever comes last. Proof: jcstress
   * Invariant_01_OneTerminalTransition (every observer, the outcome future included, agrees).
   */

  static final Logger log = LoggerFactory.getLogger(DefaultStream.class);

  /** MDC key under which the stream id is logged while its source runs. */
  static final String MDC_KEY = "sluice.stream";

  // ---- tail word: [status:3 | count:61] ----
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

  /**
   * Busy-wait rounds before parking: a wake-up costs tens of microseconds, a spin a few ns, but
   * spinning only pays while the other side runs on another core (as in LinkedTransferQueue: 64,
   * none on one CPU). 256 measured 2-3x slower than 64 on a loaded 2-core machine (bench/PROFILING.md).
   * The system property {@code sluice.spins} overrides it, for tuning on other hardware.
   */
  static final int SPINS =
      Integer.getInteger("sluice.spins", Runtime.getRuntime().availableProcessors() < 2 ? 0 : 64);

  /** Marks the hook stack as fired (hooks handed over to run) or discarded (ended by its source). */
  private static final HookNode FIRED = new HookNode(() -> {}, null);

  private static final HookNode DISCARDED = new HookNode(() -> {}, null);

  /** Marks the hook stack as being handed over to run: a registrant waits the few instructions. */
  private static final HookNode FIRING = new HookNode(() -> {}, null);

  final DefaultStreamManager manager;
  final String id;
  final @Nullable String owner;

  /**
   * The tokens, the readers and the status. The status lives in the ring's tail word; its
   * transitions, exactly one per stream, each a CAS from RUNNING ({@link TokenRing#seal}):
   *
   * <pre>
   * RUNNING -> CANCELLED   cancel(), the last reader leaving early (CANCEL policy), manager close
   * RUNNING -> COMPLETED   the source returned (worker)
   * RUNNING -> FAILED      the source threw, was interrupted in send, or could not be started
   * RUNNING -> TIMED_OUT   the timer found a timeout passed
   * </pre>
   *
   * Ownership: while RUNNING the worker owns the source and this sink, and only it adds tokens. The
   * winner of the transition emits the terminal event, wakes everyone, interrupts the worker if the
   * source still runs, and hands the callbacks to the delivery executor. The worker never removes the
   * stream from the registry; {@link #removed} decides who does.
   */
  final TokenRing ring;

  final StreamTimer timer;

  /**
   * The source; the worker's while RUNNING, dropped when the worker returns (it often holds the
   * prompt and an HTTP client). Written by the worker, or under the admission lock for a queued
   * stream that will never run.
   */
  private @Nullable TokenSource source;

  /** The terminal event, the slot reserved for it: null while RUNNING, written once by the winner. */
  private volatile StreamEvent.@Nullable Terminal terminal;

  /**
   * Worker lifecycle, for interrupting it safely (as FutureTask does):
   *
   * <pre>
   * NEW -> RUNNING -> RETURNED                                  normal return
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

  /** 0 until the source is reported as ignoring cancellation, then 1. One CAS decides. */
  private volatile int stopReported;

  /**
   * Cancel hooks: a Treiber stack while RUNNING, then FIRING while the winner hands them to {@link
   * #toRun}, then FIRED; or DISCARDED (the source ended the stream). Pushed by CAS; taken once by
   * getAndSet. A hook registered once FIRED goes to toRun too, after the earlier ones.
   */
  private volatile @Nullable HookNode hooks;

  /**
   * Hooks handed over to run, newest first (a Treiber stack); drained in registration order on the
   * delivery executor by one task at a time, counted by {@link #hookWip}.
   */
  private volatile @Nullable HookNode toRun;

  private volatile int hookWip;

  /** Guarded by the manager's admission lock: true while waiting in its queue. */
  boolean queued;

  /** Attributes given at submit; unmodifiable. */
  private final Map<String, String> attributes;

  // ---- what the source reports, for the outcome; read once by the terminal transition ----
  private volatile StreamOutcome.@Nullable Usage usage;
  private volatile @Nullable String finishReason;

  /** Guards {@link #metadata}: a private lock, nothing a user holds. */
  private final Object results = new Object();

  private final Map<String, String> metadata = new LinkedHashMap<>();

  /**
   * Removed from the registry while its worker still ran, so close() finds it in the manager's
   * set to report it. Written under the manager's admission lock; volatile for the Dekker pair with
   * the worker's return (the remover writes it and then reads `worker`; the worker writes
   * W_RETURNED and then reads it), so that one of them takes the stream out of that set.
   */
  volatile boolean removedWhileRunning;

  /**
   * The outcome future, created on the first call to outcome() (most streams are read, not
   * awaited). Completed on the delivery executor once the listeners have seen the end, or by
   * outcome() if that comes later.
   */
  private volatile @Nullable CompletableFuture<StreamOutcome> outcome;

  /**
   * Set once the listeners have seen the end (after terminate's internal work): the outcome future
   * completes only after it, so whoever waits on the outcome sees what the listeners recorded.
   */
  private volatile boolean notified;

  DefaultStream(DefaultStreamManager manager, String id, @Nullable String owner, TokenSource source) {
    this(manager, id, owner, Map.of(), source);
  }

  DefaultStream(
      DefaultStreamManager manager,
      String id,
      @Nullable String owner,
      Map<String, String> attributes,
      TokenSource source) {
    this.manager = manager;
    this.id = id;
    this.owner = owner;
    this.attributes = attributes;
    this.source = source;
    this.ring = new TokenRing(this, manager.bufferSize, manager.ringSize);
    this.timer = new StreamTimer(this, manager, manager.now());
  }

  // ------------------------------------------------------------------ StreamHandle

  @Override
  public String id() {
    return id;
  }

  @Override
  public State state() {
    int status = statusOf(ring.tail());
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
      // Pair D with listenersNotified(): it sets `notified` then reads `outcome`; we set `outcome`
      // then read `notified`. One of the two completes the future.
      StreamEvent.Terminal term = terminal;
      if (notified && term != null) {
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
    return attachReader(lastSequence, null);
  }

  /** Attaches a reader; {@code signal} makes it a demand-driven (Flow) reader. */
  DefaultReader attachReader(long lastSequence, @Nullable Runnable signal) {
    if (lastSequence < 0) {
      throw new IllegalArgumentException("lastSequence must be >= 0, got " + lastSequence);
    }
    DefaultReader r = new DefaultReader(this, ring, lastSequence, signal);
    ring.attach(r, lastSequence);
    // Validated: from here on nothing may fail the attach (the reader holds the producer back).
    try {
      timer.readerAttached(manager.now());
    } catch (Throwable e) {
      log.error("stream {}: retiming after an attach failed", id, e);
    }
    return r;
  }

  @Override
  public Flow.Publisher<StreamEvent> publisher() {
    return publisher(0);
  }

  @Override
  public Flow.Publisher<StreamEvent> publisher(long lastSequence) {
    if (lastSequence < 0) {
      throw new IllegalArgumentException("lastSequence must be >= 0, got " + lastSequence);
    }
    return new StreamPublisher(this, manager.deliveryExecutor, lastSequence);
  }

  @Override
  public Map<String, String> attributes() {
    return attributes;
  }

  @Override
  public Optional<Duration> queueWait() {
    long start = timer.startNanos;
    return start == StreamTimer.NONE
        ? Optional.empty()
        : Optional.of(Duration.ofNanos(Math.max(0, start - timer.submitNanos)));
  }

  @Override
  public Optional<Duration> timeToFirstToken() {
    long first = timer.firstTokenNanos;
    long start = timer.startNanos;
    return first == StreamTimer.NONE || start == StreamTimer.NONE
        ? Optional.empty()
        : Optional.of(Duration.ofNanos(first - start));
  }

  @Override
  public double tokensPerSecond() {
    long first = timer.firstTokenNanos;
    long count = ring.count();
    if (first == StreamTimer.NONE || count < 2) {
      return 0;
    }
    long end = timer.endNanos;
    long elapsed = (end == StreamTimer.NONE ? manager.now() : end) - first;
    return elapsed <= 0 ? 0 : (count - 1) * 1e9 / elapsed;
  }

  // ------------------------------------------------------------------ TokenSink

  @Override
  public String streamId() {
    return id;
  }

  @Override
  public boolean isCancelled() {
    return !ring.running();
  }

  @Override
  public void send(String token) {
    requireNonNull(token, "token");
    publish(token); // a TEXT token is stored bare
  }

  @Override
  public void send(TokenKind kind, String token) {
    requireNonNull(kind, "kind");
    requireNonNull(token, "token");
    publish(kind == TokenKind.TEXT ? token : new TokenRing.Kinded(kind, token));
  }

  private void publish(Object token) {
    boolean first = ring.count() == 0; // one producer: nobody else can publish token 1
    if (first) {
      // Before publishing: whoever holds token 1 must also see timeToFirstToken().
      timer.firstTokenSending(manager.now());
    }
    long seq = ring.publish(token);
    if (seq > 0) {
      if (first) {
        onFirstToken();
      } else if (manager.idleTimeoutNanos != 0) {
        timer.tokenSent(manager.now(), false); // no clock read per token unless it is needed
      }
      return;
    }
    if (first) {
      timer.firstTokenRefused(); // the token was refused, so there is no first token
    }
    if (seq == TokenRing.INTERRUPTED) {
      // Not ours if the stream still runs: someone wants this thread to stop. Fail the stream
      // rather than spin on a set interrupt flag, and keep the flag for the source.
      terminate(
          S_FAILED,
          "interrupted while blocked in send",
          new InterruptedException("interrupted while blocked in TokenSink.send"));
      Thread.currentThread().interrupt();
    }
    throw refused();
  }

  @Override
  public void reportUsage(long inputTokens, long outputTokens) {
    StreamOutcome.Usage u = new StreamOutcome.Usage(inputTokens, outputTokens); // validates
    if (ring.running()) {
      usage = u;
    }
  }

  @Override
  public void reportFinishReason(String reason) {
    requireNonNull(reason, "reason");
    if (reason.isBlank() || reason.length() > 256) {
      throw new IllegalArgumentException(
          "finish reason must be non-blank and at most 256 characters, got \""
              + abbreviate(reason)
              + "\" ("
              + reason.length()
              + " characters)");
    }
    if (ring.running()) {
      finishReason = reason;
    }
  }

  @Override
  public void putMetadata(String key, String value) {
    requireNonNull(key, "key");
    requireNonNull(value, "value");
    if (key.isBlank() || key.length() > 128) {
      throw new IllegalArgumentException(
          "metadata key must be non-blank and at most 128 characters, got \"" + abbreviate(key) + "\"");
    }
    if (value.length() > 1024) {
      throw new IllegalArgumentException(
          "metadata value of \"" + key + "\" must be at most 1024 characters, got " + value.length());
    }
    synchronized (results) {
      if (!ring.running()) {
        return;
      }
      if (metadata.size() >= 32 && !metadata.containsKey(key)) {
        throw new IllegalArgumentException(
            "at most 32 metadata keys per stream; \"" + key + "\" would be the 33rd");
      }
      metadata.put(key, value);
    }
  }

  private static String abbreviate(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "...";
  }

  /** The outcome of a transition to {@code status} with {@code count} tokens, with the reports. */
  private StreamOutcome outcomeOf(
      int status, long count, @Nullable String message, @Nullable Throwable cause) {
    Map<String, String> meta;
    synchronized (results) {
      meta = metadata.isEmpty() ? Map.of() : Map.copyOf(metadata);
    }
    return new StreamOutcome(toStatus(status), count, message, cause, usage, finishReason, meta);
  }

  @Override
  public void onCancel(Runnable hook) {
    requireNonNull(hook, "hook");
    for (int spins = 0; ; spins++) {
      HookNode head = hooks;
      if (head == FIRING) { // the winner is handing the earlier hooks over: a few instructions
        if (spins < 64) {
          Thread.onSpinWait();
        } else {
          Thread.yield();
        }
        continue;
      }
      if (head == FIRED) {
        handOver(hook); // already cancelled: after the earlier ones
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

  private StreamCancelledException refused() {
    manager.droppedAfterCancel.increment();
    long t = ring.tail();
    StreamEvent.Terminal term = terminal;
    String why = term != null && term.outcome().message() != null ? term.outcome().message() : null;
    Status status = toStatus(statusOf(t));
    return new StreamCancelledException(
        id,
        status,
        "stream " + id + " no longer accepts tokens: " + (why != null ? why : status));
  }

  private void onFirstToken() {
    long now = timer.firstTokenNanos;
    timer.tokenSent(now, true);
    long start = timer.startNanos;
    manager.notifyFirstToken(this, Duration.ofNanos(start == StreamTimer.NONE ? 0 : now - start));
  }

  // ------------------------------------------------------------------ callbacks from the ring

  void producerBlocked() {
    timer.producerBlocked(manager.now());
  }

  void producerUnblocked() {
    timer.producerUnblocked(manager.now());
  }

  void logCut(DefaultReader r, @Nullable String reason, long behind) {
    log.info("stream {}: {} ({} tokens behind)", id, reason != null ? reason : "reader skipped ahead", behind);
  }

  // ------------------------------------------------------------------ readers

  StreamEvent.@Nullable Terminal terminalEvent() {
    return terminal;
  }

  boolean running() {
    return ring.running();
  }

  boolean hasReader() {
    return ring.anyValidated();
  }

  /**
   * A reader left the ring ({@link TokenRing#leave}); applies the detach policy if it was the last
   * validated reader and left early. The one place where a reader leaving can end the stream.
   *
   * @param why the cancellation message if this cancels the stream; null for "reader detached"
   */
  void readerLeft(DefaultReader r, int how, long position, @Nullable String why) {
    if (!ring.leave(r, how, position)) {
      return;
    }
    policyAfterLastReader(why);
  }

  private void policyAfterLastReader(@Nullable String why) {
    if (manager.detachPolicy == DetachPolicy.CANCEL) {
      terminate(S_CANCELLED, why != null ? why : "reader detached", null);
    } else if (ring.running()) {
      timer.noReader(manager.now());
    }
  }

  /**
   * The producer has waited since {@code blockedSince} longer than the slow-reader timeout: the
   * policy applies to every reader that held it back that long.
   */
  void cutSlowReaders(long blockedSince, long now) {
    boolean detach = manager.slowReaderPolicy == SlowReaderPolicy.DETACH;
    String reason =
        "reader too slow: held the producer back for "
            + Duration.ofNanos(manager.slowReaderTimeoutNanos);
    if (ring.cutSlowReaders(
        detach ? reason : null, blockedSince, now, manager.slowReaderTimeoutNanos)) {
      policyAfterLastReader(reason);
    }
  }

  /** Called by each reader that receives the terminal event. */
  void terminalDelivered() {
    if (manager.removeOnDelivery && ring.nobodyElseNeedsIt()) {
      tryRemove(false);
    }
  }

  // ------------------------------------------------------------------ worker

  /** Runs the source on the current (worker) thread; the caller releases the worker slot after. */
  void runWorker() {
    // Each stream starts with a clear interrupt flag: one a previous source on this thread left
    // set is not meant for this one (a ThreadPoolExecutor clears it between its own tasks).
    Thread.interrupted();
    runner = Thread.currentThread();
    worker = W_RUNNING;
    try {
      TokenSource src = source;
      if (!ring.running() || src == null) {
        return; // cancelled between admission and start
      }
      timer.started(manager.now());
      if (!ring.running()) {
        return; // its start timer could not be scheduled, and failed it: do not start the source
      }
      MDC.put(MDC_KEY, id);
      manager.notifyStart(this);
      try {
        src.run(this);
        if (terminate(S_COMPLETED, null, null)) {
          log.debug("stream {} completed", id);
        }
      } catch (StreamCancelledException e) {
        if (ring.running()) {
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
      source = null;
      if (!WORKER.compareAndSet(this, W_RUNNING, W_RETURNED)) {
        // A terminator is interrupting us: wait for it (yield, so that a virtual-thread interrupter
        // gets a carrier), then clear the interrupt meant for the source, not for the executor.
        while (worker != W_INTERRUPTED) {
          Thread.yield();
        }
        Thread.interrupted();
        worker = W_RETURNED;
      }
      if (removedWhileRunning) { // then read it (see the field)
        manager.forgetRemovedWhileRunning(this);
      }
      runner = null;
      MDC.remove(MDC_KEY);
      if (stopReported != 0) {
        log.warn("stream {}: source returned at last, after being reported as ignoring cancellation", id);
      }
    }
  }

  /** Drops the source of a stream that will never run; under the manager's admission lock. */
  void dropSource() {
    source = null;
  }

  boolean workerReturned() {
    int w = worker;
    return w == W_RETURNED || (w == W_NEW && runner == null);
  }

  /** Marks the source as reported for ignoring cancellation; true the first time. */
  boolean markStopReported() {
    return !workerReturned() && STOP_REPORTED.compareAndSet(this, 0, 1);
  }

  // ------------------------------------------------------------------ the terminal transition

  /**
   * Makes the one transition out of RUNNING.
   *
   * @return true if this call made it; false if the stream had already ended
   */
  boolean terminate(int status, @Nullable String message, @Nullable Throwable cause) {
    long now = manager.now(); // never throws (a throwing ticker is contained there)
    long t = ring.seal(status);
    if (t < 0) {
      return false;
    }
    // Won. Emit the terminal event: one write to the slot reserved for it (the last gasp).
    long count = t & COUNT_MASK;
    StreamOutcome result = outcomeOf(status, count, message, cause);
    terminal = new StreamEvent.Terminal(count + 1, result);

    // Internal work: wake everyone, stop the worker, counters, the timer.
    ring.wakeBlockingReaders();
    ring.wakeProducer();
    boolean abort = status == S_CANCELLED || status == S_TIMED_OUT;
    boolean aborted = false;
    if (abort) {
      interruptWorker(); // first: a hook registered from here on runs after the interrupt too
    }
    HookNode taken = (HookNode) HOOKS.getAndSet(this, abort ? FIRING : DISCARDED);
    if (abort) {
      if (taken != null) {
        toRun = taken; // empty until now: nothing ran before FIRED
      }
      hooks = FIRED;
      aborted = !workerReturned() && worker != W_NEW;
      if (status == S_CANCELLED) {
        log.debug("stream {} cancelled: {}", id, message);
      }
    }
    try {
      manager.countTerminal(this, result);
    } catch (Throwable e) {
      log.error("stream {}: counting its end failed", id, e);
    }
    try {
      timer.ended(now, aborted);
    } catch (Throwable e) {
      log.error("stream {}: scheduling its retention failed", id, e);
    }

    // Calls that leave the library, last, each contained.
    ring.signalReaders();
    if (abort && taken != null) {
      scheduleHooks();
    }
    manager.notifyTerminal(this, result);
    return true;
  }

  /**
   * The listeners have seen the end (or there are none): from now on the outcome may complete.
   * Returns the outcome future if one was asked for, for the caller to complete on the delivery
   * executor; a later outcome() completes its own.
   */
  @Nullable CompletableFuture<StreamOutcome> listenersNotified() {
    notified = true; // pair D: then read the future
    return outcome;
  }

  /** Adds a late hook to the hooks to run, and makes sure a drain runs. */
  private void handOver(Runnable hook) {
    for (HookNode head = toRun; ; head = toRun) {
      HookNode n = new HookNode(hook, head);
      if (TO_RUN.compareAndSet(this, head, n)) {
        break;
      }
    }
    scheduleHooks();
  }

  private void scheduleHooks() {
    if ((int) HOOK_WIP.getAndAdd(this, 1) == 0) {
      manager.callback(id, "onCancel hooks", this::drainHooks);
    }
  }

  /** Runs the hooks handed over, in registration order, until no more come: one task at a time. */
  private void drainHooks() {
    int missed = 1;
    for (; ; ) {
      HookNode head = (HookNode) TO_RUN.getAndSet(this, null);
      HookNode reversed = null;
      for (HookNode n = head; n != null; n = n.next) {
        reversed = new HookNode(n.hook, reversed);
      }
      for (HookNode n = reversed; n != null; n = n.next) {
        runHook(n.hook);
      }
      missed = (int) HOOK_WIP.getAndAdd(this, -missed) - missed;
      if (missed == 0) {
        return;
      }
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
      } catch (Throwable e) {
        log.warn("stream {}: interrupting its worker failed", id, e);
      } finally {
        worker = W_INTERRUPTED;
      }
    }
  }

  /** Removes this stream from the registry if nobody did; exactly one caller wins. */
  boolean tryRemove(boolean byTimer) {
    if (ring.running() || !REMOVED.compareAndSet(this, 0, 1)) {
      return false;
    }
    // Keep the timer while a stop check is pending: a source that ignores cancellation must be
    // reported even when its stream's terminal event was delivered (and it left) first.
    timer.removed();
    manager.onRemoved(this, byTimer);
    return true;
  }

  boolean isRemoved() {
    return removed != 0;
  }

  /** Schedules the stream's timer for its next due time; see {@link StreamTimer#schedule}. */
  void scheduleNext(long now) {
    timer.schedule(now);
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
    return ring.count();
  }

  boolean ownedBy(@Nullable String candidate) {
    return owner == null ? candidate == null : owner.equals(candidate);
  }

  @Override
  public String toString() {
    return "Stream[" + id + ", " + state() + ", tokens=" + ring.count() + "]";
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

  private static final VarHandle OUTCOME;
  private static final VarHandle WORKER;
  private static final VarHandle REMOVED;
  private static final VarHandle STOP_REPORTED;
  private static final VarHandle HOOKS;
  private static final VarHandle TO_RUN;
  private static final VarHandle HOOK_WIP;

  static {
    try {
      MethodHandles.Lookup l = MethodHandles.lookup();
      OUTCOME = l.findVarHandle(DefaultStream.class, "outcome", CompletableFuture.class);
      WORKER = l.findVarHandle(DefaultStream.class, "worker", int.class);
      REMOVED = l.findVarHandle(DefaultStream.class, "removed", int.class);
      STOP_REPORTED = l.findVarHandle(DefaultStream.class, "stopReported", int.class);
      HOOKS = l.findVarHandle(DefaultStream.class, "hooks", HookNode.class);
      TO_RUN = l.findVarHandle(DefaultStream.class, "toRun", HookNode.class);
      HOOK_WIP = l.findVarHandle(DefaultStream.class, "hookWip", int.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }
}
