package dev.sluice.testkit;

import static java.util.Objects.requireNonNull;

import dev.sluice.StreamCancelledException;
import dev.sluice.StreamHandle;
import dev.sluice.StreamManager;
import dev.sluice.StreamOutcome;
import dev.sluice.TokenKind;
import dev.sluice.TokenSink;
import dev.sluice.TokenSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * One run of the source under test on a real {@link StreamManager}, watched from both sides: a
 * wrapping {@link TokenSource} records when {@code run} starts and how it ends, on which thread,
 * and a wrapping {@link TokenSink} records every call the source makes on its sink.
 *
 * <p>Only the public API of {@code dev.sluice} is used, so the kit sees the source exactly as the
 * manager does.
 */
final class SourceRun {

  /*
   * Implementation notes
   *
   * "Cancellation is visible" to the source once isCancelled() returned true to it, or once send
   * threw StreamCancelledException to it. A send after either is a violation. A send after the
   * onCancel hook ran on another thread, but before the source observed anything, is not: the
   * source may have been holding a token it read before the cancel; that send throws and the
   * source may let the exception propagate. Counting it would fail correct sources.
   *
   * The end of run() and an interrupt from this kit are ordered by a lock, so that an interrupt
   * never reaches the worker thread after run() returned (and so never the next task of the
   * executor's thread).
   */

  private static final int STACK_FRAMES = 12;

  private final TokenSource source;
  private final StreamHandle handle;
  private final Probe sink = new Probe();

  private final CountDownLatch started = new CountDownLatch(1);
  private final CountDownLatch firstToken = new CountDownLatch(1);
  private final CountDownLatch returned = new CountDownLatch(1);

  private final Object lock = new Object();
  /** The worker thread while run() runs. Guarded by lock. */
  private @Nullable Thread worker;
  /** Whether run() has returned or thrown. Guarded by lock. */
  private boolean ended;
  /** What run() threw, or null if it returned normally or still runs. Guarded by lock. */
  private @Nullable Throwable thrown;
  /** Whether the worker's interrupt flag was set when run() ended. Guarded by lock. */
  private boolean interruptedAtEnd;

  private volatile long cancelNanos;
  private volatile long interruptNanos;
  private volatile long endNanos;
  private volatile boolean returnedBeforeCancel;
  private volatile int acceptedAtCancel = -1;
  private volatile int hooksAtCancel = -1;
  private volatile int acceptedAtInterrupt = -1;

  private SourceRun(StreamManager manager, TokenSource source) {
    this.source = source;
    this.handle = manager.submit(this::run);
  }

  /** Submits {@code source} to {@code manager}; the stream starts when a worker is free. */
  static SourceRun submit(StreamManager manager, TokenSource source) {
    return new SourceRun(manager, requireNonNull(source, "source"));
  }

  private void run(TokenSink real) throws Exception {
    sink.delegate = real;
    synchronized (lock) {
      worker = Thread.currentThread();
    }
    started.countDown();
    Throwable failure = null;
    try {
      source.run(sink);
    } catch (Throwable e) {
      failure = e;
      throw e;
    } finally {
      endNanos = System.nanoTime();
      synchronized (lock) {
        ended = true;
        thrown = failure;
        worker = null;
        // Reads and clears the flag: an interrupt from this kit must not outlive run().
        interruptedAtEnd = Thread.interrupted();
      }
      returned.countDown();
    }
  }

  // ---------------------------------------------------------------- driving

  StreamHandle handle() {
    return handle;
  }

  boolean awaitStart(Duration timeout) throws InterruptedException {
    return started.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  boolean awaitFirstToken(Duration timeout) throws InterruptedException {
    return firstToken.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /** Waits for the stream to end or for run() to return, whichever is first. */
  void awaitFirstTokenOrEnd(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (firstToken.getCount() > 0 && returned.getCount() > 0) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        return;
      }
      firstToken.await(Math.min(left, TimeUnit.MILLISECONDS.toNanos(10)), TimeUnit.NANOSECONDS);
    }
  }

  boolean awaitReturn(Duration timeout) throws InterruptedException {
    return returned.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /** The outcome, or null if the stream has not ended within {@code timeout}. */
  @Nullable StreamOutcome awaitOutcome(Duration timeout) throws InterruptedException {
    try {
      return handle.outcome().toCompletableFuture().get(timeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      return null;
    } catch (ExecutionException e) {
      throw new IllegalStateException("a stream outcome never completes exceptionally", e);
    }
  }

  /** The outcome if the stream has ended, else null. */
  @Nullable StreamOutcome outcomeNow() {
    return handle.outcome().toCompletableFuture().getNow(null);
  }

  /** Marks the moment of cancellation; the caller cancels right after. */
  void markCancel() {
    returnedBeforeCancel = hasReturned();
    acceptedAtCancel = acceptedCount();
    hooksAtCancel = sink.hooksRegistered.get();
    cancelNanos = System.nanoTime();
  }

  /**
   * Interrupts the worker thread if run() is still running.
   *
   * @return false if run() had already ended
   */
  boolean interruptIfRunning() {
    synchronized (lock) {
      Thread w = worker;
      if (ended || w == null) {
        return false;
      }
      acceptedAtInterrupt = acceptedCount();
      interruptNanos = System.nanoTime();
      w.interrupt();
      return true;
    }
  }

  // ---------------------------------------------------------------- what was seen

  boolean hasReturned() {
    return returned.getCount() == 0;
  }

  /** Whether run() ended by throwing; false while it runs. */
  boolean threw() {
    synchronized (lock) {
      return thrown != null;
    }
  }

  boolean interruptedAtEnd() {
    synchronized (lock) {
      return interruptedAtEnd;
    }
  }

  /** "returned normally", "threw java.io.IOException: closed", or "is still running". */
  String howItEnded() {
    synchronized (lock) {
      if (!ended) {
        return "is still running";
      }
      return thrown == null ? "returned normally" : "threw " + thrown;
    }
  }

  /** Milliseconds from the cancel to the end of run(); -1 if either has not happened. */
  long millisFromCancelToReturn() {
    return between(cancelNanos, endNanos);
  }

  long millisFromInterruptToReturn() {
    return between(interruptNanos, endNanos);
  }

  private long between(long from, long to) {
    if (from == 0 || !hasReturned()) {
      return -1;
    }
    return TimeUnit.NANOSECONDS.toMillis(to - from);
  }

  /** The tokens whose send returned normally, in order. */
  List<String> accepted() {
    synchronized (sink.accepted) {
      return new ArrayList<>(sink.accepted);
    }
  }

  int acceptedCount() {
    synchronized (sink.accepted) {
      return sink.accepted.size();
    }
  }

  /** Whether run() had already ended when {@link #markCancel()} was called. */
  boolean returnedBeforeCancel() {
    return returnedBeforeCancel;
  }

  int acceptedAtCancel() {
    return acceptedAtCancel;
  }

  int acceptedAtInterrupt() {
    return acceptedAtInterrupt;
  }

  int hooksRegisteredAtCancel() {
    return hooksAtCancel;
  }

  int hooksRegistered() {
    return sink.hooksRegistered.get();
  }

  /**
   * Waits until every hook registered before the cancel has returned; returns the thread of one
   * still running after {@code bound}, or null.
   */
  @Nullable Thread awaitHooks(java.time.Duration bound) throws InterruptedException {
    long deadline = System.nanoTime() + bound.toNanos();
    while (sink.hooksReturned.get() < hooksAtCancel || sink.hooksRunning.get() > 0) {
      if (System.nanoTime() - deadline >= 0) {
        Thread t = sink.hookThread;
        return t != null ? t : Thread.currentThread();
      }
      Thread.sleep(1);
    }
    return null;
  }

  @Nullable Throwable hookFailure() {
    return sink.hookFailure;
  }

  int sendCalls() {
    return sink.sendCalls.get();
  }

  int refusedSends() {
    return sink.refused.get();
  }

  int sendsAfterCancelVisible() {
    return sink.sendsAfterVisible.get();
  }

  @Nullable String firstSendAfterCancelVisible() {
    return sink.firstLateToken;
  }

  /** How the source first saw the cancellation, or null if it never looked. */
  @Nullable String howCancelBecameVisible() {
    return sink.visibleBy;
  }

  int isCancelledCalls() {
    return sink.isCancelledCalls.get();
  }

  int sendsAfterReturn() {
    return sink.sendsAfterReturn.get();
  }

  /** The worker's stack while run() runs, indented, for failure messages; empty once it ended. */
  String workerStack() {
    Thread w;
    synchronized (lock) {
      w = worker;
    }
    return w == null ? "" : stackOf(w);
  }

  static String stackOf(Thread t) {
    StackTraceElement[] frames = t.getStackTrace();
    if (frames.length == 0) {
      return ""; // not alive, or the JVM could not take the stack at that moment
    }
    StringBuilder sb = new StringBuilder();
    sb.append("\n  ").append(t.getName()).append(" is at:");
    for (int i = 0; i < frames.length && i < STACK_FRAMES; i++) {
      sb.append("\n    at ").append(frames[i]);
    }
    if (frames.length > STACK_FRAMES) {
      sb.append("\n    ... ").append(frames.length - STACK_FRAMES).append(" more");
    }
    return sb.toString();
  }

  // ---------------------------------------------------------------- the recording sink

  /** The sink handed to the source under test: records every call, then delegates. */
  private final class Probe implements TokenSink {
    volatile @Nullable TokenSink delegate;

    final List<String> accepted = new ArrayList<>(); // guarded by itself
    final AtomicInteger sendCalls = new AtomicInteger();
    final AtomicInteger refused = new AtomicInteger();
    final AtomicInteger sendsAfterVisible = new AtomicInteger();
    final AtomicInteger sendsAfterReturn = new AtomicInteger();
    final AtomicInteger isCancelledCalls = new AtomicInteger();
    final AtomicInteger hooksRegistered = new AtomicInteger();
    volatile @Nullable String visibleBy;
    volatile @Nullable String firstLateToken;
    volatile @Nullable Throwable hookFailure;
    final AtomicInteger hooksRunning = new AtomicInteger();
    final AtomicInteger hooksReturned = new AtomicInteger();
    volatile @Nullable Thread hookThread;

    private TokenSink delegate() {
      TokenSink d = delegate;
      if (d == null) {
        throw new IllegalStateException("the sink was used before run() was called");
      }
      return d;
    }

    @Override
    public String streamId() {
      return delegate().streamId();
    }

    @Override
    public void send(TokenKind kind, String token) {
      sendCalls.incrementAndGet();
      if (hasReturned()) {
        sendsAfterReturn.incrementAndGet();
      }
      if (visibleBy != null && sendsAfterVisible.getAndIncrement() == 0) {
        firstLateToken = token;
      }
      try {
        delegate().send(kind, token);
      } catch (StreamCancelledException e) {
        refused.incrementAndGet();
        if (visibleBy == null) {
          visibleBy = "send threw StreamCancelledException";
        }
        throw e;
      }
      synchronized (accepted) {
        accepted.add(token);
      }
      firstToken.countDown();
    }

    @Override
    public void reportUsage(long inputTokens, long outputTokens) {
      delegate().reportUsage(inputTokens, outputTokens);
    }

    @Override
    public void reportFinishReason(String reason) {
      delegate().reportFinishReason(reason);
    }

    @Override
    public void putMetadata(String key, String value) {
      delegate().putMetadata(key, value);
    }

    @Override
    public boolean isCancelled() {
      isCancelledCalls.incrementAndGet();
      boolean cancelled = delegate().isCancelled();
      if (cancelled && visibleBy == null) {
        visibleBy = "isCancelled() returned true";
      }
      return cancelled;
    }

    @Override
    public void onCancel(Runnable hook) {
      requireNonNull(hook, "hook");
      hooksRegistered.incrementAndGet();
      delegate()
          .onCancel(
              () -> {
                hookThread = Thread.currentThread();
                hooksRunning.incrementAndGet();
                try {
                  hook.run();
                } catch (Throwable e) {
                  hookFailure = e;
                  throw e;
                } finally {
                  hooksRunning.decrementAndGet();
                  hooksReturned.incrementAndGet();
                }
              });
    }
  }
}
