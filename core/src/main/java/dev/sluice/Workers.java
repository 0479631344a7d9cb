package dev.sluice;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/** Default worker threads: virtual on JDK 21+, found at run time; a bounded pool on 17. */
final class Workers {

  private Workers() {}

  /**
   * Starts a virtual thread per task on 21+; else returns a pool of {@code maxRunning} daemon
   * threads. The virtual threads are unnamed and untracked (about 130 bytes less per open stream
   * than a named thread-per-task executor): the manager counts its workers itself, and logs carry
   * the stream id in the MDC.
   */
  static Executor newDefaultExecutor(int maxRunning) {
    ThreadFactory virtual = VIRTUAL_FACTORY;
    if (virtual != null) {
      return task -> virtual.newThread(task).start();
    }
    ThreadPoolExecutor pool =
        new ThreadPoolExecutor(
            maxRunning,
            maxRunning,
            30,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(),
            daemonFactory("sluice-worker"));
    pool.allowCoreThreadTimeOut(true);
    return pool;
  }

  /**
   * The default executor for user callbacks (Flow deliveries, hooks, listeners, outcome
   * dependents); see {@code Builder.deliveryExecutor}. A virtual thread per task on 21+; on 17 one
   * shared pool of daemon threads that grows as needed and shrinks when idle, so that a callback
   * that blocks (a hook closing a connection) takes a thread of its own and delays no one else,
   * which the common fork-join pool would not guarantee.
   */
  static Executor deliveryExecutor() {
    ThreadFactory virtual = VIRTUAL_FACTORY;
    if (virtual != null) {
      return task -> virtual.newThread(task).start();
    }
    return CallbackPool.POOL;
  }

  /** The JDK 17 callback pool, created on first use. */
  private static final class CallbackPool {
    static final Executor POOL = newPool();

    private static Executor newPool() {
      ThreadPoolExecutor pool =
          new ThreadPoolExecutor(
              0,
              Integer.MAX_VALUE,
              2, // idle threads go soon: callbacks are short and bursty
              TimeUnit.SECONDS,
              new SynchronousQueue<>(),
              daemonFactory("sluice-callback"));
      return pool;
    }
  }

  static ThreadFactory daemonFactory(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /** {@code Thread.ofVirtual().factory()}, looked up reflectively (we compile for 17); null on 17. */
  private static final @Nullable ThreadFactory VIRTUAL_FACTORY = lookupVirtual();

  private static @Nullable ThreadFactory lookupVirtual() {
    try {
      MethodHandles.Lookup l = MethodHandles.publicLookup();
      Class<?> builder = Class.forName("java.lang.Thread$Builder");
      Class<?> ofVirtual = Class.forName("java.lang.Thread$Builder$OfVirtual");
      Object b = l.findStatic(Thread.class, "ofVirtual", MethodType.methodType(ofVirtual)).invoke();
      return (ThreadFactory)
          l.findVirtual(builder, "factory", MethodType.methodType(ThreadFactory.class)).invoke(b);
    } catch (Throwable e) {
      return null; // JDK 17: no virtual threads
    }
  }
}
