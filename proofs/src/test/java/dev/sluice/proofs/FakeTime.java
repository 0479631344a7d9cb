package dev.sluice.proofs;

import dev.sluice.Ticker;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.Delayed;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A fake clock and the scheduler that runs on it: timers fire only when a test calls {@link
 * #advance}, on the test's thread. Makes every timeout test deterministic.
 */
public final class FakeTime extends AbstractExecutorService implements ScheduledExecutorService, Ticker {

  private final AtomicLong now = new AtomicLong(1_000_000_000L);
  private final PriorityQueue<Task> tasks =
      new PriorityQueue<>((a, b) -> a.at != b.at ? Long.compare(a.at, b.at) : Long.compare(a.order, b.order));
  private long seq;

  @Override
  public long read() {
    return now.get();
  }

  /** Moves time forward and runs every task that became due, in order. */
  public void advance(Duration d) {
    long target = now.get() + d.toNanos();
    for (int ran = 0; ; ran++) {
      if (ran > 100_000) {
        throw new AssertionError("timers keep re-arming at " + now.get() + ": a busy timer loop");
      }
      Task next;
      synchronized (this) {
        next = tasks.peek();
        if (next == null || next.at > target) {
          break;
        }
        tasks.poll();
      }
      now.set(Math.max(now.get(), next.at));
      if (!next.cancelled) {
        next.done = true;
        next.command.run();
      }
    }
    now.set(target);
  }

  /** Tasks scheduled and not cancelled, not yet run. */
  public synchronized int pending() {
    int n = 0;
    for (Task t : tasks) {
      if (!t.cancelled) {
        n++;
      }
    }
    return n;
  }

  @Override
  public synchronized ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
    Task t = new Task(command, now.get() + unit.toNanos(delay), seq++);
    tasks.add(t);
    return t;
  }

  @Override
  public void execute(Runnable command) {
    command.run();
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

  private final class Task implements ScheduledFuture<Object> {
    final Runnable command;
    final long at;
    final long order;
    volatile boolean cancelled;
    volatile boolean done;

    Task(Runnable command, long at, long order) {
      this.command = command;
      this.at = at;
      this.order = order;
    }

    @Override
    public long getDelay(TimeUnit unit) {
      return unit.convert(at - now.get(), TimeUnit.NANOSECONDS);
    }

    @Override
    public int compareTo(Delayed o) {
      return Long.compare(getDelay(TimeUnit.NANOSECONDS), o.getDelay(TimeUnit.NANOSECONDS));
    }

    @Override
    public boolean cancel(boolean mayInterrupt) {
      if (done) {
        return false;
      }
      cancelled = true;
      return true;
    }

    @Override
    public boolean isCancelled() {
      return cancelled;
    }

    @Override
    public boolean isDone() {
      return done || cancelled;
    }

    @Override
    public Object get() {
      throw new UnsupportedOperationException();
    }

    @Override
    public Object get(long timeout, TimeUnit unit) {
      throw new UnsupportedOperationException();
    }
  }
}
