package dev.sluice;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import org.jspecify.annotations.Nullable;

/**
 * Runs many concurrent, cancellable token streams: submits {@link TokenSource}s, finds their {@link
 * StreamHandle}s by id, limits and times them, owns their cleanup, and shuts down cleanly.
 *
 * <pre>{@code
 * try (StreamManager streams = StreamManager.builder().maxRunning(64).build()) {
 *   StreamHandle handle = streams.submit(sink -> llm.stream(prompt, sink::send));
 *   try (StreamReader reader = handle.attach()) {
 *     for (StreamEvent e = reader.next(); e instanceof StreamEvent.Token t; e = reader.next()) {
 *       client.write(t.text());
 *     }
 *   }
 * }
 * }</pre>
 *
 * <p><b>Cleanup ownership.</b> A worker never removes a stream from the registry. An ended stream
 * stays findable, so a client that cancels and then reads gets the {@code CANCELLED} terminal event,
 * until exactly one of these removes it: delivery of its terminal event to a reader (when {@link
 * Builder#removeOnDelivery} is on, the default) or its retention period passing.
 *
 * <p>All methods may be called from any thread.
 */
public interface StreamManager extends AutoCloseable {

  /** Returns a builder with the defaults documented on each of its setters. */
  static Builder builder() {
    return new Builder();
  }

  /**
   * Submits a source with no owner; it runs when a worker slot is free.
   *
   * @param source the producer; not null
   * @return the new stream's handle, {@code RUNNING}
   * @throws RejectedExecutionException if the queue stayed full for the submit timeout
   * @throws IllegalStateException if this manager is closed
   */
  StreamHandle submit(TokenSource source);

  /**
   * Submits a source owned by {@code owner}: {@link #find(String, String)} with any other owner, and
   * {@link #find(String)}, will not find it.
   *
   * @param owner a tenant, user or API key; not blank
   * @param source the producer; not null
   * @return the new stream's handle, {@code RUNNING}
   * @throws IllegalArgumentException if {@code owner} is blank
   * @throws RejectedExecutionException if the queue stayed full for the submit timeout
   * @throws IllegalStateException if this manager is closed
   */
  StreamHandle submit(String owner, TokenSource source);

  /**
   * Submits a source with no owner and with attributes (model, provider, operation, ...) that
   * listeners and metrics see on its handle ({@link StreamHandle#attributes()}).
   *
   * @param attributes at most 32 entries, keys non-blank and at most 128 characters, values at most
   *     1,024; copied
   * @param source the producer; not null
   * @return the new stream's handle, {@code RUNNING}
   * @throws IllegalArgumentException if an attribute breaks those limits
   * @throws RejectedExecutionException if the queue stayed full for the submit timeout
   * @throws IllegalStateException if this manager is closed
   */
  StreamHandle submit(Map<String, String> attributes, TokenSource source);

  /**
   * Submits a source owned by {@code owner}, with attributes; see {@link #submit(String,
   * TokenSource)} and {@link #submit(Map, TokenSource)}.
   *
   * @throws IllegalArgumentException if {@code owner} is blank or an attribute breaks the limits
   * @throws RejectedExecutionException if the queue stayed full for the submit timeout
   * @throws IllegalStateException if this manager is closed
   */
  StreamHandle submit(String owner, Map<String, String> attributes, TokenSource source);

  /**
   * Finds a stream submitted without an owner, running or ended but not yet removed.
   *
   * @param id the stream's id
   * @return the stream, or empty if unknown, removed, or owned
   * @throws IllegalArgumentException if {@code id} is not a well-formed stream id
   */
  Optional<StreamHandle> find(String id);

  /**
   * Finds a stream submitted by {@code owner}. A stream of another owner is not found: callers cannot
   * tell it exists.
   *
   * @param owner the owner it was submitted with
   * @param id the stream's id
   * @return the stream, or empty if unknown, removed, or owned by someone else
   * @throws IllegalArgumentException if {@code owner} is blank or {@code id} is malformed
   */
  Optional<StreamHandle> find(String owner, String id);

  /** A snapshot of this manager's counters. */
  StreamCounters counters();

  /**
   * Shuts down: rejects new submissions, cancels every queued and running stream (their readers get
   * the {@code CANCELLED} terminal event), waits up to the stop timeout for the sources to return,
   * and reports the ones that did not (a warning naming them, and {@link
   * StreamCounters#ignoredCancellation}). Then releases its threads and empties the registry; handles
   * already held stay readable. Idempotent.
   */
  @Override
  void close();

  /**
   * Configures a {@link StreamManager}. Every setter validates its argument and throws {@link
   * IllegalArgumentException} naming the setting and the value.
   */
  final class Builder {
    int maxRunning = 256;
    int queueCapacity = 1024;
    long submitTimeoutNanos;
    int bufferSize = 64;
    int replayWindow = 64;
    long deadlineNanos;
    long firstTokenTimeoutNanos;
    long idleTimeoutNanos;
    long noReaderTimeoutNanos = Duration.ofSeconds(60).toNanos();
    long retentionNanos = Duration.ofSeconds(30).toNanos();
    long stopTimeoutNanos = Duration.ofSeconds(5).toNanos();
    boolean removeOnDelivery = true;
    DetachPolicy detachPolicy = DetachPolicy.CANCEL;
    long slowReaderTimeoutNanos;
    SlowReaderPolicy slowReaderPolicy = SlowReaderPolicy.DETACH;
    @Nullable Executor executor;
    @Nullable ScheduledExecutorService scheduler;
    @Nullable Executor deliveryExecutor;
    Ticker ticker = Ticker.system();
    final java.util.List<StreamListener> listeners = new java.util.ArrayList<>();

    /** Largest buffer and replay window accepted. */
    static final int MAX_BUFFER = 1 << 24;

    Builder() {}

    /** Sources running at once, at most; more wait in the queue. Default 256. */
    public Builder maxRunning(int maxRunning) {
      this.maxRunning = requirePositive("maxRunning", maxRunning);
      return this;
    }

    /** Streams waiting for a worker, at most; 0 means none wait. Default 1024. */
    public Builder queueCapacity(int queueCapacity) {
      if (queueCapacity < 0) {
        throw new IllegalArgumentException("queueCapacity must be >= 0, got " + queueCapacity);
      }
      this.queueCapacity = queueCapacity;
      return this;
    }

    /**
     * How long {@code submit} waits for room in a full queue before throwing {@link
     * RejectedExecutionException}. Default zero: reject at once.
     */
    public Builder submitTimeout(Duration submitTimeout) {
      this.submitTimeoutNanos = nanos("submitTimeout", submitTimeout, true);
      return this;
    }

    /** Tokens a producer may be ahead of its reader before {@code send} blocks. Default 64. */
    public Builder bufferSize(int bufferSize) {
      requirePositive("bufferSize", bufferSize);
      if (bufferSize > MAX_BUFFER) {
        throw new IllegalArgumentException("bufferSize must be <= " + MAX_BUFFER + ", got " + bufferSize);
      }
      this.bufferSize = bufferSize;
      return this;
    }

    /**
     * Delivered tokens kept so that a reader can resume from an earlier sequence number, or a late
     * reader can replay from the start; 0 keeps none. Default 64. The ring (buffer plus window) is
     * allocated on the first token, rounded up to a power of two; after the stream ends, all but one
     * of its slots are replayable (a send refused at the end may have written the last one).
     */
    public Builder replayWindow(int replayWindow) {
      if (replayWindow < 0 || replayWindow > MAX_BUFFER) {
        throw new IllegalArgumentException(
            "replayWindow must be in [0, " + MAX_BUFFER + "], got " + replayWindow);
      }
      this.replayWindow = replayWindow;
      return this;
    }

    /** Overall deadline from submit, queueing included; then {@code TIMED_OUT}. Default none. */
    public Builder deadline(Duration deadline) {
      this.deadlineNanos = nanos("deadline", deadline, false);
      return this;
    }

    /** Longest wait from the source starting to its first token. Default none. */
    public Builder firstTokenTimeout(Duration firstTokenTimeout) {
      this.firstTokenTimeoutNanos = nanos("firstTokenTimeout", firstTokenTimeout, false);
      return this;
    }

    /** Longest gap between two tokens. Default none. */
    public Builder idleTimeout(Duration idleTimeout) {
      this.idleTimeoutNanos = nanos("idleTimeout", idleTimeout, false);
      return this;
    }

    /**
     * Longest time a running stream may have no reader attached: before the first attach, and after a
     * detach under {@link DetachPolicy#KEEP_RUNNING} (the grace period for resuming). Default 60 s.
     */
    public Builder noReaderTimeout(Duration noReaderTimeout) {
      this.noReaderTimeoutNanos = nanos("noReaderTimeout", noReaderTimeout, false);
      return this;
    }

    /**
     * How long an ended stream stays findable for a client to pick up its final status, unless its
     * terminal event is delivered first. Default 30 s.
     */
    public Builder retention(Duration retention) {
      this.retentionNanos = nanos("retention", retention, false);
      return this;
    }

    /**
     * Whether delivering the terminal event to a reader removes the stream from the registry at once.
     * It does only when no other reader is attached and no reader left before its terminal event (a
     * client that disconnected may come back to resume): then the retention period decides. Default
     * true; turn it off to let clients resume after the end, until the retention period passes.
     */
    public Builder removeOnDelivery(boolean removeOnDelivery) {
      this.removeOnDelivery = removeOnDelivery;
      return this;
    }

    /** What a reader closing early does to its stream. Default {@link DetachPolicy#CANCEL}. */
    public Builder detachPolicy(DetachPolicy detachPolicy) {
      this.detachPolicy = requireNonNull(detachPolicy, "detachPolicy");
      return this;
    }

    /**
     * How long one slow reader may hold the producer back (the buffer full because of it) before
     * {@link #slowReaderPolicy} applies to it. Default none: readers hold the producer back as long
     * as they are attached, which is the right choice for a single reader.
     */
    public Builder slowReaderTimeout(Duration slowReaderTimeout) {
      this.slowReaderTimeoutNanos = nanos("slowReaderTimeout", slowReaderTimeout, false);
      return this;
    }

    /** What happens to a reader past the slow-reader timeout. Default {@link SlowReaderPolicy#DETACH}. */
    public Builder slowReaderPolicy(SlowReaderPolicy slowReaderPolicy) {
      this.slowReaderPolicy = requireNonNull(slowReaderPolicy, "slowReaderPolicy");
      return this;
    }

    /**
     * How long a source may take to return after its stream was cancelled or timed out, and how long
     * {@link StreamManager#close()} waits for sources, before they are reported as ignoring
     * cancellation. Default 5 s.
     */
    public Builder stopTimeout(Duration stopTimeout) {
      this.stopTimeoutNanos = nanos("stopTimeout", stopTimeout, false);
      return this;
    }

    /**
     * Runs sources on {@code executor}, which the manager never shuts down. It must run at least
     * {@code maxRunning} tasks at once; exactly {@code maxRunning} threads is enough (a dispatch that
     * races a worker returning to its pool is retried briefly). A stream the executor rejects, or
     * whose {@code execute} throws anything, ends FAILED with a message saying so, and its slot is
     * freed. Default: a virtual thread per source on JDK 21+, a pool of {@code maxRunning} daemon
     * threads on 17.
     */
    public Builder executor(Executor executor) {
      this.executor = requireNonNull(executor, "executor");
      return this;
    }

    /**
     * Runs every timer (timeouts, retention) on {@code scheduler}, which the manager never shuts down;
     * it must keep running while the manager is open. A stream whose timer it refuses, or whose
     * queued timer it dropped (a {@code shutdownNow()} underneath), fails closed with a message
     * naming the cause, at once or at the stream's next event (the manager has no thread of its own
     * to watch a scheduler it does not own). Default: one daemon thread owned by the manager.
     */
    public Builder scheduler(ScheduledExecutorService scheduler) {
      this.scheduler = requireNonNull(scheduler, "scheduler");
      return this;
    }

    /**
     * Runs the user callbacks that the library triggers: the deliveries of {@link
     * StreamHandle#publisher()} to subscribers, {@link TokenSink#onCancel} hooks, the listener's
     * {@code onTerminal} and {@code onEvicted}, and the dependents of {@link StreamHandle#outcome()}.
     * So none of them runs on the timer thread or makes {@code cancel()} wait. If it throws, the
     * callback runs on a new thread instead (and a Flow subscriber gets {@code onError}). Default: a
     * virtual thread per task on JDK 21+; on 17 a shared pool of daemon threads that grows as
     * needed and shrinks when idle, so that a callback that blocks delays no other. Never the worker
     * executor: a subscriber must not wait behind the producers it unblocks.
     * {@code Runnable::run} runs them on the thread that triggers them, for deterministic tests.
     */
    public Builder deliveryExecutor(Executor deliveryExecutor) {
      this.deliveryExecutor = requireNonNull(deliveryExecutor, "deliveryExecutor");
      return this;
    }

    /** The time source for timeouts and metrics. Default {@link Ticker#system()}. */
    public Builder ticker(Ticker ticker) {
      this.ticker = requireNonNull(ticker, "ticker");
      return this;
    }

    /**
     * Adds a listener that observes every stream's lifecycle; may be called several times (metrics,
     * tracing and logging side by side). Listeners are called in the order added, each contained:
     * one that throws is logged and the others still run. Default: none.
     */
    public Builder listener(StreamListener listener) {
      listeners.add(requireNonNull(listener, "listener"));
      return this;
    }

    /** Builds a running manager; close it when done. */
    public StreamManager build() {
      return new DefaultStreamManager(this);
    }

    private static int requirePositive(String name, int value) {
      if (value <= 0) {
        throw new IllegalArgumentException(name + " must be > 0, got " + value);
      }
      return value;
    }

    private static long nanos(String name, Duration value, boolean zeroAllowed) {
      requireNonNull(value, name);
      if (value.isNegative() || (!zeroAllowed && value.isZero())) {
        throw new IllegalArgumentException(
            name + " must be " + (zeroAllowed ? ">= 0" : "> 0") + ", got " + value);
      }
      try {
        return value.toNanos();
      } catch (ArithmeticException e) {
        throw new IllegalArgumentException(
            name + " must fit in a long of nanoseconds (about 292 years), got " + value, e);
      }
    }
  }
}
