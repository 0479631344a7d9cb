package dev.sluice.bench;

import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * P4, cancel latency, one sample per fresh stream:
 *
 * <ul>
 *   <li>{@code producer}: the producer is blocked sending into a full buffer (its reader holds the
 *       first token); the time from the canceller calling cancel to the producer's send throwing.
 *   <li>{@code terminal}: the reader is blocked waiting for a token (the producer waits upstream);
 *       the time from cancel to the reader receiving the end signal.
 *   <li>{@code --contender floor}: the bare cost of waking a parked thread, from the waker's
 *       {@code unpark} to the parked thread running (platform and, on 21+, virtual threads).
 * </ul>
 *
 * With {@code --load N}, N other streams of the same contender are busy meanwhile, each sending a
 * token every {@code --interval-ms} (an LLM's pace) to a reader.
 */
public final class CancelLatency {

  private CancelLatency() {}

  /** Longest wait for a release before a sample counts as "not released". */
  static final long TIMEOUT_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

  public static void main(String[] args) throws Exception {
    String name = Results.arg(args, "contender", "sluice");
    int samples = Results.intArg(args, "samples", 1000);
    int load = Results.intArg(args, "load", 0);
    int intervalMs = Results.intArg(args, "interval-ms", 100);
    String scenario = load == 0 ? "idle" : "load=" + load;
    System.out.printf(
        "CancelLatency %s on JDK %s (%s threads), %s, %d samples%n",
        name, Results.jdk(), Threads.mode(), scenario, samples);
    if (name.equals("floor")) {
      floor(scenario, samples);
      System.exit(0);
    }
    try (Contender c = Contenders.create(name, load + 16)) {
      if (load > 0) {
        startLoad(c, load, intervalMs);
      }
      // Warm-up: a tenth of the samples, not recorded.
      producer(c, Math.max(20, samples / 10), null);
      terminal(c, Math.max(20, samples / 10), null);
      producer(c, samples, scenario);
      terminal(c, samples, scenario);
    }
    System.exit(0);
  }

  // ------------------------------------------------------------------ producer released

  /**
   * Cancels run on their own thread, which records the start time: a peer's cancel may block (a
   * SubmissionPublisher's close() waits for the lock a blocked submit() holds) and must not stall
   * the harness.
   */
  private static final ExecutorService CANCELLERS =
      java.util.concurrent.Executors.newCachedThreadPool(Threads.daemon("canceller"));

  /** Starts {@code stream.cancel()} on a canceller thread; returns at once. */
  private static void cancelAsync(Probe p, Contender.Stream stream) {
    CANCELLERS.execute(
        () -> {
          p.t0 = System.nanoTime();
          stream.cancel();
          p.cancelReturned = true;
        });
  }

  /** Waits until the cancel started and {@code field} is set, or the timeout; returns the latency or 0. */
  private static long awaitLatency(Probe p, boolean terminal) {
    long start = System.nanoTime();
    while (p.t0 == 0 && System.nanoTime() - start < TIMEOUT_NANOS) {
      LockSupport.parkNanos(20_000);
    }
    long t0 = p.t0;
    if (t0 == 0) {
      return 0;
    }
    long deadline = t0 + TIMEOUT_NANOS;
    for (; ; ) {
      long t1 = terminal ? p.ended : p.released;
      if (t1 != 0) {
        return Math.max(1, t1 - t0);
      }
      if (System.nanoTime() - deadline > 0) {
        return 0;
      }
      LockSupport.parkNanos(20_000);
    }
  }

  /** Per-sample state, written by the contender's threads. */
  static final class Probe {
    volatile long t0;
    volatile boolean cancelReturned;
    volatile Thread producer;
    volatile int sent;
    volatile long released;
    volatile long ended;
    volatile boolean stop;
    final CountDownLatch hold = new CountDownLatch(1);
  }

  private static void producer(Contender c, int samples, String scenario) throws Exception {
    long[] lat = new long[samples];
    int n = 0;
    int notReleased = 0;
    int cancelBlocked = 0;
    for (int s = 0; s < samples; s++) {
      Probe p = new Probe();
      boolean[] first = {true};
      Contender.Stream stream =
          c.open(
              out -> {
                p.producer = Thread.currentThread();
                try {
                  for (int i = 0; ; i++) {
                    out.send(Tokens.get(i));
                    p.sent = i + 1;
                  }
                } catch (Throwable e) {
                  p.released = System.nanoTime();
                }
              },
              new Contender.Reader() {
                @Override
                public void onToken(String token) {
                  if (first[0]) {
                    first[0] = false;
                    awaitUninterruptibly(p.hold);
                  }
                }

                @Override
                public void onEnd(boolean cancelled) {
                  p.ended = System.nanoTime();
                }
              });
      if (!awaitBlocked(p)) {
        throw new IllegalStateException(c.name() + ": producer never blocked (sent " + p.sent + ")");
      }
      cancelAsync(p, stream);
      long r = awaitLatency(p, false);
      if (r != 0) {
        lat[n++] = r;
      } else {
        notReleased++;
        if (!p.cancelReturned) {
          cancelBlocked++;
        }
      }
      p.hold.countDown();
      if (r == 0) {
        Thread t = p.producer;
        if (t != null) {
          t.interrupt(); // clean up what cancel left blocked
        }
        if (notReleased >= 5 && n == 0) {
          break; // it never releases: no need to leak more threads to show it
        }
      }
    }
    report("producer", c.name(), scenario, lat, n, notReleased);
    if (scenario != null) {
      Results.add("P4", "producer/" + scenario, c.name(), "cancel_call_blocked", cancelBlocked);
    }
  }

  /** Waits until the producer filled the buffer and parked. */
  private static boolean awaitBlocked(Probe p) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    int stable = 0;
    int last = -1;
    while (System.nanoTime() - deadline < 0) {
      Thread t = p.producer;
      int sent = p.sent;
      if (t != null && sent >= Tokens.BUFFER - 1) {
        Thread.State st = t.getState();
        boolean parked = st == Thread.State.WAITING || st == Thread.State.TIMED_WAITING;
        stable = parked && sent == last ? stable + 1 : 0;
        if (stable >= 3) {
          return true;
        }
      }
      last = sent;
      Thread.sleep(1);
    }
    return false;
  }

  // ------------------------------------------------------------------ terminal delivered

  private static void terminal(Contender c, int samples, String scenario) throws Exception {
    long[] lat = new long[samples];
    int n = 0;
    int notReleased = 0;
    for (int s = 0; s < samples; s++) {
      Probe p = new Probe();
      Contender.Stream stream =
          c.open(
              out -> {
                p.producer = Thread.currentThread();
                while (!p.stop && !Thread.currentThread().isInterrupted()) {
                  LockSupport.park(p); // waiting upstream for the first token
                }
              },
              new Contender.Reader() {
                @Override
                public void onToken(String token) {}

                @Override
                public void onEnd(boolean cancelled) {
                  p.ended = System.nanoTime();
                }
              });
      while (p.producer == null) {
        Thread.sleep(1);
      }
      Thread.sleep(3); // the reader is past its spins and parked
      cancelAsync(p, stream);
      long e = awaitLatency(p, true);
      if (e != 0) {
        lat[n++] = e;
      } else {
        notReleased++;
      }
      p.stop = true;
      LockSupport.unpark(p.producer);
    }
    report("terminal", c.name(), scenario, lat, n, notReleased);
  }

  // ------------------------------------------------------------------ floor

  private static void floor(String scenario, int samples) throws Exception {
    floor(scenario, samples, Threads.daemon("floor")::newThread, "platform");
    if (Threads.virtualAvailable()) {
      ExecutorService vt;
      String old = System.getProperty("bench.threads");
      System.clearProperty("bench.threads");
      vt = Threads.newWorkers("floor");
      if (old != null) {
        System.setProperty("bench.threads", old);
      }
      floor(scenario, samples, r -> {
        vt.execute(r);
        return null;
      }, "virtual");
      vt.shutdownNow();
    }
  }

  interface Starter {
    Thread start(Runnable r);
  }

  private static void floor(String scenario, int samples, Starter starter, String threads)
      throws Exception {
    long[] lat = new long[samples];
    int warm = Math.max(20, samples / 10);
    int n = 0;
    for (int s = -warm; s < samples; s++) {
      Probe p = new Probe();
      Runnable parked =
          () -> {
            p.producer = Thread.currentThread();
            while (!p.stop) {
              LockSupport.park(p);
            }
            p.released = System.nanoTime();
          };
      Thread t = starter.start(parked);
      if (t != null) {
        t.start();
      }
      while (p.producer == null) {
        Thread.sleep(1);
      }
      while (p.producer.getState() != Thread.State.WAITING) {
        Thread.sleep(1);
      }
      Thread.sleep(1);
      long t0 = System.nanoTime();
      p.stop = true;
      LockSupport.unpark(p.producer);
      while (p.released == 0) {
        LockSupport.parkNanos(20_000);
      }
      if (s >= 0) {
        lat[n++] = p.released - t0;
      }
    }
    report("unpark", "floor-" + threads, scenario, lat, n, 0, threads);
  }

  // ------------------------------------------------------------------ helpers

  private static void report(
      String kind, String contender, String scenario, long[] lat, int n, int notReleased) {
    report(kind, contender, scenario, lat, n, notReleased, Threads.mode());
  }

  private static void report(
      String kind,
      String contender,
      String scenario,
      long[] lat,
      int n,
      int notReleased,
      String threads) {
    if (scenario == null) {
      return; // warm-up
    }
    String sc = kind + "/" + scenario;
    long[] a = Arrays.copyOf(lat, n);
    Arrays.sort(a);
    Results.add("P4", Results.jdk(), threads, sc, contender, "samples", n + notReleased);
    Results.add("P4", Results.jdk(), threads, sc, contender, "not_released", notReleased);
    if (n > 0) {
      Results.add("P4", Results.jdk(), threads, sc, contender, "p50_us", pct(a, 0.50) / 1e3);
      Results.add("P4", Results.jdk(), threads, sc, contender, "p99_us", pct(a, 0.99) / 1e3);
      Results.add("P4", Results.jdk(), threads, sc, contender, "p999_us", pct(a, 0.999) / 1e3);
    }
  }

  private static long pct(long[] sorted, double q) {
    int i = (int) Math.ceil(q * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
  }

  static void awaitUninterruptibly(CountDownLatch latch) {
    boolean interrupted = false;
    for (; ; ) {
      try {
        latch.await();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** Busy streams: each sends a token every intervalMs to a reader, until the JVM exits. */
  private static void startLoad(Contender c, int streams, int intervalMs) throws Exception {
    CountDownLatch started = new CountDownLatch(streams);
    Contender.Source paced =
        out -> {
          started.countDown();
          for (int i = 0; ; i++) {
            out.send(Tokens.get(i));
            Thread.sleep(intervalMs);
          }
        };
    Contender.Reader sinkhole =
        new Contender.Reader() {
          @Override
          public void onToken(String token) {}

          @Override
          public void onEnd(boolean cancelled) {}
        };
    long t0 = System.nanoTime();
    for (int i = 0; i < streams; i++) {
      c.open(paced, sinkhole);
    }
    if (!started.await(120, TimeUnit.SECONDS)) {
      throw new IllegalStateException("load did not start: " + started.getCount() + " missing");
    }
    System.out.printf(
        "load: %d streams busy (a token every %d ms each) after %d ms%n",
        streams, intervalMs, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
    Thread.sleep(1000);
  }
}
