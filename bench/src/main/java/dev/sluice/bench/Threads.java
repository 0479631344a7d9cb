package dev.sluice.bench;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The threads the peers (and the readers of every contender) run on: a virtual thread per task on
 * JDK 21+, a cached pool of daemon platform threads on 17. {@code -Dbench.threads=platform} forces
 * platform threads on 21+.
 */
public final class Threads {

  private Threads() {}

  /** Whether this JVM has virtual threads. */
  public static boolean virtualAvailable() {
    return Runtime.version().feature() >= 21;
  }

  /** Whether the harness uses virtual threads in this run. */
  public static boolean virtual() {
    return virtualAvailable() && !"platform".equals(System.getProperty("bench.threads"));
  }

  /** "virtual" or "platform". */
  public static String mode() {
    return virtual() ? "virtual" : "platform";
  }

  /** A new executor of the run's kind; the caller shuts it down. */
  public static ExecutorService newWorkers(String prefix) {
    if (virtual()) {
      try {
        Object builder =
            MethodHandles.publicLookup()
                .findStatic(Thread.class, "ofVirtual", MethodType.methodType(Class.forName("java.lang.Thread$Builder$OfVirtual")))
                .invoke();
        ThreadFactory tf =
            (ThreadFactory)
                MethodHandles.publicLookup()
                    .findVirtual(Class.forName("java.lang.Thread$Builder"), "factory", MethodType.methodType(ThreadFactory.class))
                    .invoke(builder);
        return (ExecutorService)
            MethodHandles.publicLookup()
                .findStatic(Executors.class, "newThreadPerTaskExecutor", MethodType.methodType(ExecutorService.class, ThreadFactory.class))
                .invoke(tf);
      } catch (Throwable e) {
        throw new IllegalStateException("virtual threads unavailable", e);
      }
    }
    return Executors.newCachedThreadPool(daemon(prefix));
  }

  /** A factory of daemon platform threads named prefix-N. */
  public static ThreadFactory daemon(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
