package dev.sluice;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.time.Duration;
import java.util.NoSuchElementException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Delayed;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.LLL_Result;

/**
 * Issue 10, S2: a slow-reader cut racing the end of the stream. A reader that is cut first gets
 * {@code Detached}; a reader still attached when the stream ends gets its retained tokens and the
 * terminal event, never {@code Detached} after the end.
 *
 * <p>Buffer 1, slow-reader timeout 1 ns (the Stress ticker moves 1 ns per read), DETACH, and the
 * last reader detaching cancels. The reader R has read nothing; t1 is published and the producer
 * (a pooled thread, see {@link BlockedProducer}) is blocked on t2. Actors: the stream's timer task
 * (an actor is the timer thread) and a canceller, which records whether R was still attached (not
 * cut) right after its cancel() won. A cut that lands after the end is undone (the reader keeps
 * its retained tokens), so "gone" may be a cut caught in progress: then the reader must get its
 * token and the terminal, never Detached.
 *
 * <p>Internal entry points: the stream's timer task (kept by a scheduler that runs nothing, {@link
 * LatestTimer}; {@code DefaultStream.scheduleNext(long)} when the producer scheduled none), and {@code DefaultReader.position()} / {@code
 * DefaultReader.GONE} to tell whether R was cut before the end.
 */
public final class SlowReader_01_CutRacesEnd {

  private SlowReader_01_CutRacesEnd() {}

  static {
    // Every cut logs at INFO; thousands of them would flood the VM error stream of the report.
    // Applies to loggers created from here on (slf4j-simple reads it per logger).
    System.setProperty("org.slf4j.simpleLogger.log.dev.sluice.DefaultStream", "warn");
  }

  static final DefaultStreamManager MANAGER =
      Stress.manager(
          b ->
              b.scheduler(LatestTimer.INSTANCE)
                  .bufferSize(1)
                  .slowReaderTimeout(Duration.ofNanos(1))
                  .slowReaderPolicy(SlowReaderPolicy.DETACH)
                  .detachPolicy(DetachPolicy.CANCEL)
                  .deadline(Duration.ofHours(1))); // a deadline, so that the stream has a timer task

  /** Threads for producers that must be blocked before the actors start (see BlockedProducer). */
  static final ExecutorService PRODUCERS =
      Executors.newCachedThreadPool(
          r -> {
            Thread t = new Thread(r, "slow-reader-producer");
            t.setDaemon(true);
            return t;
          });

  /**
   * A producer sending t2, already blocked in send when the constructor returns. This machine has
   * two CPUs, where jcstress runs at most two actors; the producer blocked on a slow reader is the
   * third party of these races, so it runs on a pooled thread of its own.
   */
  static final class BlockedProducer {
    volatile @Nullable Thread thread;
    private volatile @Nullable String result;

    BlockedProducer(DefaultStream stream) {
      PRODUCERS.execute(
          () -> {
            thread = Thread.currentThread();
            try {
              stream.send("t2");
              result = "sent";
            } catch (StreamCancelledException e) {
              result = "refused";
            } catch (RuntimeException e) {
              result = e.getClass().getSimpleName();
            } finally {
              LatestTimer.TASKS.remove(Thread.currentThread());
            }
          });
      long deadline = System.nanoTime() + Stress.PATIENCE.toNanos();
      for (; ; ) {
        Thread t = thread;
        if (result != null
            || (t != null && t.getState() == Thread.State.WAITING)
            || System.nanoTime() > deadline) {
          return;
        }
        Thread.onSpinWait();
      }
    }

    /** "sent" or "refused" once it returned; "STUCK" if it did not within the patience. */
    String await() {
      long deadline = System.nanoTime() + Stress.PATIENCE.toNanos();
      for (String r = result; ; r = result) {
        if (r != null) {
          return r;
        }
        if (System.nanoTime() > deadline) {
          return "STUCK";
        }
        Thread.onSpinWait();
      }
    }
  }

  /**
   * The stream's timer task: the one the blocked producer scheduled for its slow-reader clock, else
   * the one {@code scheduleNext} schedules for the deadline on the constructing thread.
   */
  static Runnable timerTask(DefaultStream stream, BlockedProducer producer) {
    Thread t = producer.thread;
    Runnable task = t == null ? null : LatestTimer.TASKS.remove(t);
    if (task != null) {
      return task;
    }
    stream.scheduleNext(Stress.TICKER.read());
    task = LatestTimer.TASKS.remove(Thread.currentThread());
    if (task == null) {
      throw new IllegalStateException("the stream scheduled no timer task");
    }
    return task;
  }

  /**
   * A scheduler that runs nothing and keeps the last task each thread scheduled, so that the
   * constructor can take the one a blocked producer scheduled (Stress.SCHEDULER keeps it in a
   * thread-local of the producer's thread).
   */
  static final class LatestTimer extends AbstractExecutorService implements ScheduledExecutorService {
    static final LatestTimer INSTANCE = new LatestTimer();
    static final ConcurrentHashMap<Thread, Runnable> TASKS = new ConcurrentHashMap<>();

    @Override
    public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
      TASKS.put(Thread.currentThread(), command);
      return new Pending();
    }

    @Override
    public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
      throw new UnsupportedOperationException();
    }

    @Override
    public ScheduledFuture<?> scheduleAtFixedRate(Runnable r, long i, long p, TimeUnit u) {
      throw new UnsupportedOperationException();
    }

    @Override
    public ScheduledFuture<?> scheduleWithFixedDelay(Runnable r, long i, long d, TimeUnit u) {
      throw new UnsupportedOperationException();
    }

    @Override
    public void execute(Runnable command) {
      throw new UnsupportedOperationException();
    }

    @Override
    public void shutdown() {}

    @Override
    public List<Runnable> shutdownNow() {
      return new ArrayList<>();
    }

    @Override
    public boolean isShutdown() {
      return false;
    }

    @Override
    public boolean isTerminated() {
      return false;
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) {
      return true;
    }
  }

  /** The future of a kept timer task: cancelling it is a no-op. */
  private static final class Pending implements ScheduledFuture<Object> {
    @Override
    public long getDelay(TimeUnit unit) {
      return 0;
    }

    @Override
    public int compareTo(Delayed o) {
      return 0;
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
      return true;
    }

    @Override
    public boolean isCancelled() {
      return false;
    }

    @Override
    public boolean isDone() {
      return false;
    }

    @Override
    public @Nullable Object get() {
      return null;
    }

    @Override
    public @Nullable Object get(long timeout, TimeUnit unit) {
      return null;
    }
  }

  /**
   * What the reader has, read now without waiting: token texts, then the last event ("CANCELLED",
   * "DETACHED", ...), or "NONE" if nothing more is ready.
   */
  static String transcript(StreamReader reader) {
    StringBuilder out = new StringBuilder();
    try {
      for (int i = 0; i < 8; i++) {
        StreamEvent e = reader.poll(Duration.ZERO);
        if (e == null) {
          return out.append("NONE").toString();
        }
        if (e instanceof StreamEvent.Token t) {
          out.append(t.text()).append(' ');
        } else if (e instanceof StreamEvent.Terminal t) {
          return out.append(t.status()).toString();
        } else if (e instanceof StreamEvent.Detached) {
          return out.append("DETACHED").toString();
        } else {
          return out.append("GAP").toString();
        }
      }
      return out.append("MORE").toString();
    } catch (NoSuchElementException e) {
      return out.append("-").toString();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return out.append("INTERRUPTED").toString();
    } catch (RuntimeException e) {
      return out.append(e.getClass().getSimpleName()).toString();
    }
  }

  @JCStressTest
  @Description("the slow-reader timer cuts a reader while the stream is cancelled")
  @Outcome(id = "t1 CANCELLED, attached, refused", expect = ACCEPTABLE, desc = "ended first: the reader gets its token and the terminal")
  @Outcome(id = "DETACHED, gone, refused", expect = ACCEPTABLE, desc = "cut first; cancel() won before the last-reader policy")
  @Outcome(id = "DETACHED, lost, refused", expect = ACCEPTABLE, desc = "cut first; the last-reader policy cancelled")
  @Outcome(id = "t1 CANCELLED, gone, refused", expect = ACCEPTABLE, desc = "a cut in progress at the end was undone: token and terminal")
  @Outcome(id = "DETACHED, attached, refused", expect = FORBIDDEN, desc = "cut after the end: Detached instead of the terminal")
  @Outcome(expect = FORBIDDEN, desc = "anything else")
  @State
  public static class CutRacesCancel {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});
    final StreamReader reader = stream.attach();
    final Runnable timer;
    final BlockedProducer producer;

    public CutRacesCancel() {
      stream.send("t1");
      producer = new BlockedProducer(stream); // blocked on t2: R read nothing
      timer = timerTask(stream, producer);
    }

    @Actor
    public void timer() {
      timer.run();
      LatestTimer.TASKS.remove(Thread.currentThread()); // holds the stream
    }

    @Actor
    public void canceller(LLL_Result r) {
      if (!stream.cancel()) {
        r.r2 = "lost";
      } else {
        r.r2 = ((DefaultReader) reader).position() != DefaultReader.GONE ? "attached" : "gone";
      }
      LatestTimer.TASKS.remove(Thread.currentThread()); // the retention timer, holding the stream
    }

    @Arbiter
    public void arbiter(LLL_Result r) {
      r.r3 = producer.await();
      r.r1 = transcript(reader);
    }
  }
}
