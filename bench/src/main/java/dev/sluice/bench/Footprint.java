package dev.sluice.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * P3, footprint: retained heap per open, idle stream (its producer parked waiting for its first
 * upstream token, a reader attached but not reading), measured after GC over {@code --streams}
 * streams; and, with {@code --fit N}, the largest number of such streams (up to N) that fits in
 * this JVM's heap (run it with a fixed -Xmx).
 *
 * <pre>
 * java -Xmx4g -cp benchmarks.jar dev.sluice.bench.Footprint --contender sluice --streams 100000
 * java -Xmx2g -cp benchmarks.jar dev.sluice.bench.Footprint --contender sluice --fit 1000000
 * </pre>
 */
public final class Footprint {

  private Footprint() {}

  /** Where idle producers wait: one shared object, no per-stream allocation by the harness. */
  static final class Upstream {
    final Thread[] waiters;
    final AtomicInteger next = new AtomicInteger();
    final AtomicInteger parked = new AtomicInteger();
    volatile boolean open;

    Upstream(int capacity) {
      waiters = new Thread[capacity];
    }

    /** The source of every idle stream: park until the upstream opens, then send nothing. */
    void await(Contender.Out out) {
      int i = next.getAndIncrement();
      if (i < waiters.length) {
        waiters[i] = Thread.currentThread();
      }
      parked.incrementAndGet();
      while (!open) {
        LockSupport.park(this);
        if (Thread.currentThread().isInterrupted()) {
          return;
        }
      }
    }

    void release() {
      open = true;
      int n = Math.min(next.get(), waiters.length);
      for (int i = 0; i < n; i++) {
        Thread t = waiters[i];
        if (t != null) {
          LockSupport.unpark(t);
        }
      }
    }
  }

  /**
   * The hand-written minimum of the issue: a virtual thread started directly, parked in {@code
   * ArrayBlockingQueue(64).take()}; the queue is the reader's handle. No executor, no future.
   */
  static final class AbqMinimal implements Contender {
    private static final java.lang.invoke.MethodHandle START = startVirtual();

    @Override
    public String name() {
      return "abq-minimal";
    }

    @Override
    public Stream open(Source source, Reader reader) {
      throw new UnsupportedOperationException("footprint only");
    }

    @Override
    public Stream openIdle(Source source) {
      java.util.concurrent.ArrayBlockingQueue<String> q =
          new java.util.concurrent.ArrayBlockingQueue<>(Tokens.BUFFER);
      Thread t;
      try {
        t = (Thread) START.invokeExact((Runnable) () -> {
          try {
            source.run(q::put);
          } catch (Exception e) {
            // released
          }
        });
      } catch (Throwable e) {
        throw new IllegalStateException(e);
      }
      return t::interrupt;
    }

    @Override
    public void close() {}

    private static java.lang.invoke.MethodHandle startVirtual() {
      try {
        return java.lang.invoke.MethodHandles.publicLookup()
            .findStatic(
                Thread.class,
                "startVirtualThread",
                java.lang.invoke.MethodType.methodType(Thread.class, Runnable.class));
      } catch (ReflectiveOperationException e) {
        return null;
      }
    }
  }

  static Contender create(String name, int max) {
    return name.equals("abq-minimal") ? new AbqMinimal() : Contenders.create(name, max);
  }

  public static void main(String[] args) throws Exception {
    String name = Results.arg(args, "contender", "sluice");
    int streams = Results.intArg(args, "streams", 100_000);
    int fit = Results.intArg(args, "fit", 0);
    int warm = Results.intArg(args, "warmup", 20_000);
    long maxHeap = Runtime.getRuntime().maxMemory();
    System.out.printf(
        "Footprint %s on JDK %s (%s threads), max heap %d MB%n",
        name, Results.jdk(), Threads.mode(), maxHeap >> 20);

    // Warm-up on a throw-away instance: the producer's frames compiled, as in a long-running server.
    // A parked thread's frames are kept as they were when it parked: interpreted frames are larger
    // than compiled ones, so warm up until the paths are compiled, and let the compiler finish.
    for (int round = 0; round < 4; round++) {
      Upstream up = new Upstream(warm);
      try (Contender c = create(name, warm)) {
        for (int i = 0; i < warm; i++) {
          c.openIdle(up::await);
        }
        awaitParked(up, warm);
        up.release();
        Thread.sleep(500);
      }
    }
    if (fit > 0) {
      fit(name, fit, maxHeap);
    } else {
      measure(name, streams);
    }
    System.exit(0);
  }

  private static void measure(String name, int streams) throws Exception {
    Contender c = create(name, streams);
    Upstream up = new Upstream(streams);
    Contender.Stream[] open = new Contender.Stream[streams];
    Contender.Source source = up::await;
    long before = usedAfterGc();
    long t0 = System.nanoTime();
    for (int i = 0; i < streams; i++) {
      open[i] = c.openIdle(source);
    }
    awaitParked(up, streams);
    long openNanos = System.nanoTime() - t0;
    Thread.sleep(500);
    long after = usedAfterGc();
    double perStream = (double) (after - before) / streams;
    String scenario = "idle-streams=" + streams;
    Results.add("P3", scenario, name, "bytes_per_stream", perStream);
    Results.add("P3", scenario, name, "open_us_per_stream", openNanos / 1e3 / streams);
    System.out.printf(
        "%s: %d idle streams retain %.0f bytes each (%d MB in all); %d live threads visible%n",
        name, streams, perStream, (after - before) >> 20, Thread.activeCount());
    long hold = Long.getLong("bench.holdMillis", 0); // time to take a class histogram (jcmd GC.class_histogram)
    if (hold > 0) {
      System.out.println("holding for " + hold + " ms");
      Thread.sleep(hold);
    }
    // Keep everything reachable until measured: a parked virtual thread that nothing references is
    // garbage, and the JIT may consider these locals dead after their last use.
    java.lang.ref.Reference.reachabilityFence(open);
    java.lang.ref.Reference.reachabilityFence(up);
    java.lang.ref.Reference.reachabilityFence(c);
  }

  private static void fit(String name, int target, long maxHeap) throws Exception {
    Contender c = create(name, target);
    Upstream up = new Upstream(target);
    Contender.Stream[] open = new Contender.Stream[target];
    int opened = 0;
    String stop = "reached target";
    Contender.Source source = up::await;
    long t0 = System.nanoTime();
    try {
      while (opened < target) {
        int batch = Math.min(target - opened, 50_000);
        for (int i = 0; i < batch; i++) {
          open[opened] = c.openIdle(source);
          opened++;
        }
        awaitParked(up, opened);
        if (opened % 200_000 == 0 || opened == target) {
          long used = usedAfterGc();
          System.out.printf("%s: %d streams open, %d MB used of %d MB%n", name, opened, used >> 20, maxHeap >> 20);
          if (used > maxHeap * 0.92) {
            stop = "heap over 92% full";
            break;
          }
        }
        if (System.nanoTime() - t0 > TimeUnit.SECONDS.toNanos(240)) {
          stop = "time bound (240 s)";
          break;
        }
      }
    } catch (OutOfMemoryError e) {
      open = null;
      stop = "OutOfMemoryError";
    }
    java.lang.ref.Reference.reachabilityFence(open);
    java.lang.ref.Reference.reachabilityFence(up);
    java.lang.ref.Reference.reachabilityFence(c);
    String scenario = "fit-xmx=" + (maxHeap >> 20) + "m";
    Results.add("P3", scenario, name, "streams_open", opened);
    Results.add("P3", scenario, name, "target_reached", opened >= target ? 1 : 0);
    System.out.printf("%s: %d streams open in %d MB of heap (%s)%n", name, opened, maxHeap >> 20, stop);
  }

  static void awaitParked(Upstream up, int n) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
    while (up.parked.get() < n) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException("only " + up.parked.get() + " of " + n + " producers started");
      }
      Thread.sleep(5);
    }
    Thread.sleep(50); // from "about to park" to parked
  }

  static long usedAfterGc() throws InterruptedException {
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 4; i++) {
      System.gc();
      Thread.sleep(100);
      MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
      used = Math.min(used, heap.getUsed());
    }
    return used;
  }
}
