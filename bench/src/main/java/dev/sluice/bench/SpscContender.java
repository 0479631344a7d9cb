package dev.sluice.bench;

import java.lang.invoke.VarHandle;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.locks.LockSupport;
import org.jctools.queues.SpscArrayQueue;

/**
 * The physical reference: a JCTools {@code SpscArrayQueue(64)} with spin-then-park on both sides and
 * a volatile end flag. No ids, registry, timers, replay or terminal status: the floor of a hand-off.
 */
final class SpscContender implements Contender {

  static final int SPINS = Integer.getInteger("bench.spsc.spins", 256);

  private final ExecutorService workers = Threads.newWorkers("spsc");

  @Override
  public String name() {
    return "spsc";
  }

  /** The channel: a ring, two waiter fields, two flags. */
  static final class Channel {
    final SpscArrayQueue<String> q = new SpscArrayQueue<>(Tokens.BUFFER);
    volatile Thread producerWaiter;
    volatile Thread consumerWaiter;
    volatile boolean done;
    volatile boolean cancelled;

    void send(String t) {
      int spins = SPINS;
      while (!q.offer(t)) {
        if (cancelled) {
          throw new CancellationException();
        }
        if (spins > 0) {
          --spins;
          Thread.onSpinWait();
          continue;
        }
        producerWaiter = Thread.currentThread();
        if (!q.offer(t)) {
          if (!cancelled) {
            LockSupport.park(this);
          }
          producerWaiter = null;
          continue;
        }
        producerWaiter = null;
        break;
      }
      VarHandle.fullFence(); // the offer before the waiter read (Dekker with the consumer)
      Thread w = consumerWaiter;
      if (w != null) {
        LockSupport.unpark(w);
      }
    }

    void end() {
      done = true;
      Thread w = consumerWaiter;
      if (w != null) {
        LockSupport.unpark(w);
      }
    }

    /** The next token, or null at the end. */
    String take() {
      int spins = SPINS;
      for (; ; ) {
        String t = q.poll();
        if (t != null) {
          VarHandle.fullFence();
          Thread w = producerWaiter;
          if (w != null) {
            LockSupport.unpark(w);
          }
          return t;
        }
        if (cancelled) {
          return null;
        }
        if (done) {
          t = q.poll();
          if (t == null) {
            return null;
          }
          return t;
        }
        if (spins > 0) {
          --spins;
          Thread.onSpinWait();
          continue;
        }
        consumerWaiter = Thread.currentThread();
        if (q.isEmpty() && !done && !cancelled) {
          LockSupport.park(this);
        }
        consumerWaiter = null;
      }
    }

    void cancel() {
      cancelled = true;
      Thread w = producerWaiter;
      if (w != null) {
        LockSupport.unpark(w);
      }
      w = consumerWaiter;
      if (w != null) {
        LockSupport.unpark(w);
      }
    }
  }

  @Override
  public Stream open(Source source, Reader reader) {
    Channel c = new Channel();
    start(c, source);
    workers.execute(
        () -> {
          for (String t = c.take(); t != null; t = c.take()) {
            reader.onToken(t);
          }
          reader.onEnd(c.cancelled);
        });
    return c::cancel;
  }

  @Override
  public Stream openIdle(Source source) {
    Channel c = new Channel();
    start(c, source);
    return c::cancel;
  }

  private void start(Channel c, Source source) {
    workers.execute(
        () -> {
          try {
            source.run(c::send);
            c.end();
          } catch (Exception e) {
            c.cancel();
          }
        });
  }

  @Override
  public void close() {
    workers.shutdownNow();
  }
}
