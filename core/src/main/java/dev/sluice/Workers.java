package dev.sluice;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/** Default worker threads: virtual on JDK 21+, found at run time; a bounded pool on 17. */
final class Workers {

  private Workers() {}

  /** Creates a virtual thread per task on 21+, else a pool of {@code maxRunning} daemon threads. */
  static ExecutorService newDefaultExecutor(int maxRunning) {
    ExecutorService virtual = newVirtualExecutor();
    if (virtual != null) {
      return virtual;
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

  /** The default executor for Flow deliveries; see {@code Builder.deliveryExecutor}. */
  static java.util.concurrent.Executor deliveryExecutor() {
    java.util.concurrent.Executor d = DELIVERY;
    if (d == null) {
      synchronized (Workers.class) {
        d = DELIVERY;
        if (d == null) {
          ExecutorService virtual = newVirtualExecutor();
          if (virtual != null) {
            d = virtual;
          } else if (java.util.concurrent.ForkJoinPool.getCommonPoolParallelism() > 1) {
            d = java.util.concurrent.ForkJoinPool.commonPool();
          } else {
            ThreadFactory f = daemonFactory("sluice-delivery");
            d = r -> f.newThread(r).start();
          }
          DELIVERY = d;
        }
      }
    }
    return d;
  }

  private static volatile java.util.concurrent.@Nullable Executor DELIVERY;

  /** Whether this JVM offers virtual threads (JDK 21+). */
  static boolean virtualThreadsAvailable() {
    return VIRTUAL_FACTORY != null;
  }

  private static @Nullable ExecutorService newVirtualExecutor() {
    MethodHandle factory = VIRTUAL_FACTORY;
    if (factory == null) {
      return null;
    }
    try {
      return (ExecutorService) factory.invoke();
    } catch (Throwable e) {
      return null;
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

  /**
   * {@code Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("sluice-", 0).factory())}, looked
   * up reflectively so that the library compiles with {@code --release 17}; null on JDK 17.
   */
  private static final @Nullable MethodHandle VIRTUAL_FACTORY = lookupVirtual();

  private static @Nullable MethodHandle lookupVirtual() {
    try {
      MethodHandles.Lookup l = MethodHandles.publicLookup();
      Class<?> builder = Class.forName("java.lang.Thread$Builder");
      Class<?> ofVirtual = Class.forName("java.lang.Thread$Builder$OfVirtual");
      Object b = l.findStatic(Thread.class, "ofVirtual", MethodType.methodType(ofVirtual)).invoke();
      b =
          l.findVirtual(builder, "name", MethodType.methodType(builder, String.class, long.class))
              .invoke(b, "sluice-", 0L);
      ThreadFactory tf =
          (ThreadFactory)
              l.findVirtual(builder, "factory", MethodType.methodType(ThreadFactory.class)).invoke(b);
      MethodHandle perTask =
          l.findStatic(
              java.util.concurrent.Executors.class,
              "newThreadPerTaskExecutor",
              MethodType.methodType(ExecutorService.class, ThreadFactory.class));
      return MethodHandles.insertArguments(perTask, 0, tf);
    } catch (Throwable e) {
      return null; // JDK 17: no virtual threads
    }
  }
}
