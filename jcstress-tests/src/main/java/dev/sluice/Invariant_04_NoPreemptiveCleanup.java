package dev.sluice;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.LZ_Result;
import org.openjdk.jcstress.infra.results.L_Result;

/**
 * Invariant 4, no pre-emptive cleanup: a stream cancelled before or during reading stays findable,
 * and its reader gets the {@code CANCELLED} terminal, never "not found" — whatever the worker does as
 * it exits. Public API only: {@code submit}, {@code find}, {@code cancel}, {@code attach}; the worker
 * task is the one the manager dispatched, run by an actor as a pool thread would run it.
 *
 * <p>The client's result is its transcript (see {@link Stress#drain}) or {@code NOT_FOUND}, then
 * whether the stream was still findable after its terminal was delivered (removal on delivery is
 * on: it must be gone, removed by the reader, exactly when the status was read).
 *
 * <p>The nested {@link SeedWorkerUnconditionalCleanup} models the seed's bug #2 and is expected to
 * fail: run it on demand with {@code -t Seed}.
 */
public final class Invariant_04_NoPreemptiveCleanup {

  private Invariant_04_NoPreemptiveCleanup() {}

  static final DefaultStreamManager MANAGER = Stress.manager(b -> b.bufferSize(1));

  /** Finds the stream and reads it to the end, or says NOT_FOUND. */
  static String findAndRead(String id) {
    Optional<StreamHandle> found = MANAGER.find(id);
    if (found.isEmpty()) {
      return "NOT_FOUND";
    }
    try (StreamReader reader = found.get().attach()) {
      return Stress.drain(reader, 1);
    } catch (RuntimeException e) {
      return "ATTACH_FAILED(" + e.getClass().getSimpleName() + ")";
    }
  }

  /**
   * The seed's scenario: the client calls cancel then stream; the worker, blocked sending its second
   * token into a full buffer, is released by the cancel and exits concurrently.
   */
  @JCStressTest
  @Description("client cancels then reads; the released worker exits concurrently")
  @Outcome(id = "CANCELLED, false", expect = ACCEPTABLE, desc = "cancelled before the first token")
  @Outcome(id = "a CANCELLED, false", expect = ACCEPTABLE, desc = "cancelled after the first token")
  @Outcome(id = "NOT_FOUND, .*", expect = FORBIDDEN, desc = "seed bug #2: removed before its status was read")
  @Outcome(expect = FORBIDDEN, desc = "wrong transcript, or not removed once delivered")
  @State
  public static class CancelThenRead {
    final String id;
    final Runnable workerTask;

    public CancelThenRead() {
      id = MANAGER.submit(Invariant_02_NoStuckWriter::fillAndBlock).id();
      workerTask = Stress.takeWorker();
    }

    @Actor
    public void worker() {
      workerTask.run();
      Thread.interrupted();
    }

    @Actor
    public void client(LZ_Result r) {
      MANAGER.find(id).ifPresent(StreamHandle::cancel);
      r.r1 = findAndRead(id);
      r.r2 = MANAGER.find(id).isPresent();
    }
  }

  /**
   * The worker exits right after a cancel (it sees the stream ended and returns at once) while the
   * client finds and attaches: attach races both the cancel and the worker's exit.
   */
  @JCStressTest
  @Description("client attaches while a cancel lands and the worker exits")
  @Outcome(id = "CANCELLED, false", expect = ACCEPTABLE, desc = "the reader got CANCELLED")
  @Outcome(id = "NOT_FOUND, .*", expect = FORBIDDEN, desc = "seed bug #2: removed before its status was read")
  @Outcome(expect = FORBIDDEN, desc = "wrong transcript, or not removed once delivered")
  @State
  public static class AttachRacesCancelAndWorkerExit {
    final StreamHandle handle;
    final Runnable workerTask;

    public AttachRacesCancelAndWorkerExit() {
      handle = MANAGER.submit(Invariant_02_NoStuckWriter::fillAndBlock);
      workerTask = Stress.takeWorker();
    }

    @Actor
    public void canceller() {
      handle.cancel();
      workerTask.run(); // the worker starts late, sees CANCELLED, returns: nothing to clean up
      Thread.interrupted();
    }

    @Actor
    public void client(LZ_Result r) {
      r.r1 = findAndRead(handle.id());
      r.r2 = MANAGER.find(handle.id()).isPresent();
    }
  }

  /**
   * The client reads the first token, then cancels while the worker has more tokens to send and then
   * waits on upstream (woken by its cancel hook); the worker exits while the reader reads on.
   */
  @JCStressTest
  @Description("client cancels during reading while the worker sends and exits")
  @Outcome(id = "a CANCELLED, false", expect = ACCEPTABLE, desc = "cancelled after token 1")
  @Outcome(id = "a b CANCELLED, false", expect = ACCEPTABLE, desc = "cancelled after token 2")
  @Outcome(id = "a b c CANCELLED, false", expect = ACCEPTABLE, desc = "cancelled after token 3")
  @Outcome(id = "NOT_FOUND, .*", expect = FORBIDDEN, desc = "seed bug #2: removed before its status was read")
  @Outcome(expect = FORBIDDEN, desc = "wrong transcript, or not removed once delivered")
  @State
  public static class CancelDuringRead {
    final String id;
    final Runnable workerTask;

    public CancelDuringRead() {
      id = MANAGER.submit(CancelDuringRead::source).id();
      workerTask = Stress.takeWorker();
    }

    /** Three tokens, then waits on "upstream" until the stream is cancelled. */
    static void source(TokenSink sink) {
      Thread me = Thread.currentThread();
      sink.onCancel(() -> LockSupport.unpark(me));
      sink.send("a");
      sink.send("b");
      sink.send("c");
      while (!sink.isCancelled()) {
        LockSupport.park();
      }
    }

    @Actor
    public void worker() {
      workerTask.run();
      Thread.interrupted();
    }

    @Actor
    public void client(LZ_Result r) {
      Optional<StreamHandle> found = MANAGER.find(id);
      if (found.isEmpty()) {
        r.r1 = "NOT_FOUND";
        return;
      }
      try (StreamReader reader = found.get().attach()) {
        String first = Stress.drainOne(reader);
        found.get().cancel();
        r.r1 = first + Stress.drain(reader, 2);
      }
      r.r2 = MANAGER.find(id).isPresent();
    }
  }

  /**
   * The seed's bug #2, modelled: the worker's {@code defer m.cleanupRequest(reqID)} removes the
   * record as soon as the worker exits, which it does as soon as it sees the cancel. The client calls
   * /cancel, then /stream. Expected to fail with {@code NOT_FOUND}.
   */
  @JCStressTest
  @Description("SEED MODEL (expected to fail): worker-side unconditional cleanup")
  @Outcome(id = "CANCELLED", expect = ACCEPTABLE, desc = "the client read the cancelled status")
  @Outcome(id = "NOT_FOUND", expect = FORBIDDEN, desc = "pre-emptive cleanup: request not found")
  @Outcome(expect = FORBIDDEN, desc = "anything else")
  @State
  public static class SeedWorkerUnconditionalCleanup {
    static final String RUNNING = "RUNNING";
    static final String CANCELLED = "CANCELLED";

    final Map<String, String> activeRequests = new ConcurrentHashMap<>();
    volatile boolean ctxDone;

    public SeedWorkerUnconditionalCleanup() {
      activeRequests.put("req", RUNNING);
    }

    @Actor
    public void worker() {
      while (!ctxDone) { // streaming, until sendEvent sees <-ctx.Done()
        Thread.onSpinWait();
      }
      activeRequests.remove("req"); // defer m.cleanupRequest(reqID): unconditional
    }

    @Actor
    public void client(L_Result r) {
      activeRequests.replace("req", CANCELLED); // CancelStream: h.State = StateCancelled ...
      ctxDone = true; // ... and cancel the context
      String state = activeRequests.get("req"); // GET /chat/stream/{id}
      r.r1 = state == null ? "NOT_FOUND" : state;
    }
  }
}
