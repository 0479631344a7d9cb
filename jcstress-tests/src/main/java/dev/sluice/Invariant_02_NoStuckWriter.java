package dev.sluice;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.time.Duration;
import java.util.concurrent.SynchronousQueue;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Mode;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.Signal;
import org.openjdk.jcstress.annotations.State;

/**
 * Invariant 2, no stuck writer: a producer blocked in {@code send} on a full buffer (bufferSize 1,
 * no reader reading) returns, with {@link StreamCancelledException}, once the stream is cancelled,
 * its reader detaches under {@link DetachPolicy#CANCEL}, its deadline passes, or its manager closes.
 *
 * <p>{@code Mode.Termination}: the producer actor blocks; jcstress then delivers the signal and
 * reports {@code STALE} if the producer does not return. In the first three tests the actor calls
 * {@code send} itself (no worker, so no interrupt): only the park/unpark hand-off can release it. The
 * close test runs the real worker task, as a pool thread would.
 *
 * <p>The nested {@link SeedBlockingWriteWithoutEscape} models the seed's bug #1 and is expected to
 * fail: run it on demand with {@code -t Seed}.
 */
public final class Invariant_02_NoStuckWriter {

  private Invariant_02_NoStuckWriter() {}

  static final DefaultStreamManager MANAGER =
      Stress.manager(b -> b.bufferSize(1).deadline(Duration.ofNanos(1)));

  /** Fills the one-token buffer, then blocks on the second token until the stream ends. */
  static void fillAndBlock(TokenSink sink) {
    try {
      sink.send("a"); // refused at once if the stream already ended
      sink.send("b");
    } catch (StreamCancelledException expected) {
      return;
    }
    throw new AssertionError("send returned normally, but nobody read the first token");
  }

  @JCStressTest(Mode.Termination)
  @Description("a producer blocked in send is released by cancel()")
  @Outcome(id = "TERMINATED", expect = ACCEPTABLE, desc = "cancel released the producer")
  @Outcome(id = "STALE", expect = FORBIDDEN, desc = "the producer stayed blocked: a zombie writer")
  @State
  public static class ByCancel {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});

    @Actor
    public void producer() {
      fillAndBlock(stream);
    }

    @Signal
    public void canceller() {
      stream.cancel();
    }
  }

  @JCStressTest(Mode.Termination)
  @Description("a producer blocked in send is released by its reader detaching (DetachPolicy.CANCEL)")
  @Outcome(id = "TERMINATED", expect = ACCEPTABLE, desc = "the detach released the producer")
  @Outcome(id = "STALE", expect = FORBIDDEN, desc = "the producer stayed blocked: a zombie writer")
  @State
  public static class ByReaderDetach {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});
    final StreamReader reader = stream.attach();

    @Actor
    public void producer() {
      fillAndBlock(stream);
    }

    @Signal
    public void reader() {
      reader.close();
    }
  }

  @JCStressTest(Mode.Termination)
  @Description("a producer blocked in send is released by the deadline timer")
  @Outcome(id = "TERMINATED", expect = ACCEPTABLE, desc = "the timeout released the producer")
  @Outcome(id = "STALE", expect = FORBIDDEN, desc = "the producer stayed blocked: a zombie writer")
  @State
  public static class ByDeadline {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});
    final Runnable deadlineTimer;

    public ByDeadline() {
      stream.scheduleNext(Stress.TICKER.read());
      deadlineTimer = Stress.takeTimer();
    }

    @Actor
    public void producer() {
      fillAndBlock(stream);
    }

    @Signal
    public void timer() {
      deadlineTimer.run();
      Stress.forget();
    }
  }

  @JCStressTest(Mode.Termination)
  @Description("a worker blocked in send is released by StreamManager.close()")
  @Outcome(id = "TERMINATED", expect = ACCEPTABLE, desc = "close() released the worker")
  @Outcome(id = "STALE", expect = FORBIDDEN, desc = "the worker stayed blocked: a zombie writer")
  @State
  public static class ByClose {
    // close() is the one operation that needs a manager of its own; it has no threads either.
    final DefaultStreamManager manager = Stress.manager(b -> b.bufferSize(1));
    final Runnable workerTask;

    public ByClose() {
      manager.submit(Invariant_02_NoStuckWriter::fillAndBlock);
      workerTask = Stress.takeWorker();
    }

    @Actor
    public void worker() {
      workerTask.run();
      if (Thread.interrupted()) {
        throw new AssertionError("the worker thread was left interrupted");
      }
    }

    @Signal
    public void closer() {
      manager.close();
      Stress.forget();
    }
  }

  /**
   * The seed's bug #1, modelled: Go's {@code streamChan <- event} on an unbuffered channel, with no
   * {@code select} on the request's context. The client leaving cancels the context, which the write
   * never looks at. Expected to fail with {@code STALE}.
   */
  @JCStressTest(Mode.Termination)
  @Description("SEED MODEL (expected to fail): blocking channel write without a cancellation escape")
  @Outcome(id = "TERMINATED", expect = ACCEPTABLE, desc = "the writer returned")
  @Outcome(id = "STALE", expect = FORBIDDEN, desc = "zombie writer: blocked forever on a gone reader")
  @State
  public static class SeedBlockingWriteWithoutEscape {
    final SynchronousQueue<String> streamChan = new SynchronousQueue<>();
    volatile boolean ctxDone;

    @Actor
    public void worker() throws InterruptedException {
      streamChan.put("token"); // streamChan <- event: waits for a reader that never comes
    }

    @Signal
    public void clientDisconnects() {
      ctxDone = true; // cancel(): the context is done, but nothing selects on it
    }
  }
}
