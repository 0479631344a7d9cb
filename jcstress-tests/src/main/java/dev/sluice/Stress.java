package dev.sluice;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.Delayed;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;
import org.jspecify.annotations.Nullable;

/**
 * Shared plumbing for the jcstress tests: managers without threads, streams without workers, and a
 * reader transcript that checks the event contract as it reads.
 *
 * <p>jcstress creates millions of states, so nothing here starts a thread or allocates per state
 * beyond the stream itself. Managers are built once per test class with:
 *
 * <ul>
 *   <li>an {@link #EXECUTOR} that runs nothing: it hands the worker task to the thread that
 *       submitted ({@link #takeWorker()}), so that an actor can be the worker;
 *   <li>a {@link #SCHEDULER} that runs nothing either: the last timer task a thread scheduled is
 *       kept for it ({@link #takeTimer()}), so that an actor can be the timer thread;
 *   <li>a {@link #TICKER} that moves forward on every read, so that a timer task run after the
 *       event that scheduled it always finds a 1 ns delay passed.
 * </ul>
 */
final class Stress {

  private Stress() {}

  /** Every read is one nanosecond later than the one before, on any thread. */
  static final Ticker TICKER = new CountingTicker();

  private static final ThreadLocal<@Nullable Runnable> WORKER = new ThreadLocal<>();
  private static final ThreadLocal<@Nullable Runnable> TIMER = new ThreadLocal<>();

  /** Keeps the worker task for the submitting thread instead of running it. */
  static final Executor EXECUTOR = WORKER::set;

  /** Keeps the last timer task for the scheduling thread instead of running it. */
  static final ScheduledExecutorService SCHEDULER = new CapturingScheduler();

  /** How long a reader in a test waits for an event before reporting {@code STUCK}. */
  static final Duration PATIENCE = Duration.ofSeconds(10);

  /** A manager with no threads of its own; streams are driven by the test's actors. */
  static DefaultStreamManager manager(UnaryOperator<StreamManager.Builder> config) {
    StreamManager.Builder b =
        StreamManager.builder()
            .maxRunning(Integer.MAX_VALUE)
            .executor(EXECUTOR)
            .scheduler(SCHEDULER)
            .ticker(TICKER);
    return (DefaultStreamManager) config.apply(b).build();
  }

  /**
   * A stream of {@code manager} that is not in its registry and has no worker yet: an actor may
   * call {@link DefaultStream#runWorker()} to be its worker, or {@link DefaultStream#send} to be
   * its producer.
   */
  static DefaultStream stream(DefaultStreamManager manager, TokenSource source) {
    return new DefaultStream(manager, "jcstress", null, source);
  }

  /** The worker task the current thread's last {@code submit} dispatched; null if none. */
  static Runnable takeWorker() {
    Runnable r = WORKER.get();
    WORKER.remove();
    if (r == null) {
      throw new IllegalStateException("no worker task was dispatched on this thread");
    }
    return r;
  }

  /** The timer task the current thread scheduled last; null if none. */
  static Runnable takeTimer() {
    Runnable r = TIMER.get();
    TIMER.remove();
    if (r == null) {
      throw new IllegalStateException("no timer task was scheduled on this thread");
    }
    return r;
  }

  /** The timer task the current thread scheduled last, or null if it scheduled none. */
  static @Nullable Runnable pollTimer() {
    Runnable r = TIMER.get();
    TIMER.remove();
    return r;
  }

  /** Forgets the current thread's captured tasks (they hold on to their stream). */
  static void forget() {
    WORKER.remove();
    TIMER.remove();
  }

  /** A source that sends the given tokens and returns (completes). */
  static TokenSource sending(String... tokens) {
    return sink -> {
      for (String t : tokens) {
        sink.send(t);
      }
    };
  }

  /**
   * Reads until the terminal event and returns a transcript: the token texts, then the terminal
   * status, separated by spaces, e.g. {@code "a b CANCELLED"}. Anything that breaks the event
   * contract is written into the transcript, so that it cannot match an acceptable outcome: a wrong
   * sequence number ({@code BADSEQ}), a terminal whose token count disagrees ({@code BADCOUNT}), a
   * second terminal or event after it ({@code AFTER-TERMINAL}), no terminal within {@link #PATIENCE}
   * ({@code STUCK}), or an exception.
   *
   * @param firstSequence the sequence number the first event read must have
   */
  static String drain(StreamReader reader, long firstSequence) {
    StringBuilder out = new StringBuilder();
    long expect = firstSequence;
    try {
      for (; ; ) {
        StreamEvent e = reader.poll(PATIENCE);
        if (e == null) {
          return out.append("STUCK").toString();
        }
        if (e.sequence() != expect) {
          out.append("BADSEQ(").append(e.sequence()).append("!=").append(expect).append(") ");
        }
        expect = e.sequence() + 1;
        if (e instanceof StreamEvent.Token t) {
          out.append(t.text()).append(' ');
          continue;
        }
        StreamEvent.Terminal end = (StreamEvent.Terminal) e;
        if (end.outcome().tokens() != end.sequence() - 1) {
          out.append("BADCOUNT ");
        }
        out.append(end.status());
        try {
          StreamEvent extra = reader.poll(Duration.ZERO);
          out.append(" AFTER-TERMINAL(").append(extra).append(')');
        } catch (NoSuchElementException expected) {
          // exactly one terminal: the reader refuses to read past it
        }
        return out.toString();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return out.append("INTERRUPTED").toString();
    } catch (RuntimeException e) {
      return out.append(e.getClass().getSimpleName()).toString();
    }
  }

  /** Reads the first event, expected to be token 1: its text and a space, else what came instead. */
  static String drainOne(StreamReader reader) {
    return readToken(reader, 1);
  }

  /** Reads the next event, expected to be token {@code seq}: its text and a space, else what came. */
  static String readToken(StreamReader reader, long seq) {
    try {
      StreamEvent e = reader.poll(PATIENCE);
      if (e == null) {
        return "STUCK ";
      }
      if (e instanceof StreamEvent.Token t && t.sequence() == seq) {
        return t.text() + " ";
      }
      return "UNEXPECTED(" + e + ") ";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "INTERRUPTED ";
    } catch (RuntimeException e) {
      return e.getClass().getSimpleName() + " ";
    }
  }

  /** Reads the one event already available: the terminal's status, or what was found instead. */
  static String terminalNow(StreamReader reader) {
    try {
      StreamEvent e = reader.poll(Duration.ZERO);
      if (e instanceof StreamEvent.Terminal t) {
        return t.status().name();
      }
      return e == null ? "NO-TERMINAL" : "TOKEN";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "INTERRUPTED";
    } catch (RuntimeException e) {
      return e.getClass().getSimpleName();
    }
  }

  /** The outcome future's status if it is complete, else {@code "INCOMPLETE"}. */
  static String outcomeNow(StreamHandle h) {
    StreamOutcome o = h.outcome().toCompletableFuture().getNow(null);
    return o == null ? "INCOMPLETE" : o.status().name();
  }

  /** {@link System#nanoTime()}-like, but strictly increasing by one per read. */
  private static final class CountingTicker implements Ticker {
    private final AtomicLong now = new AtomicLong(1L << 40);

    @Override
    public long read() {
      return now.incrementAndGet();
    }
  }

  /** A scheduler that keeps each task for the thread that scheduled it and never runs it. */
  private static final class CapturingScheduler extends AbstractExecutorService
      implements ScheduledExecutorService {

    @Override
    public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
      TIMER.set(command);
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

  /** The future of a captured timer task: cancelling it is a no-op the stream does not rely on. */
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
}
