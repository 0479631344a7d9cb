package dev.sluice.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * P2 and P5: N concurrent streams of {@code --tokens} tokens each, all opened first and then
 * released together; measures total tokens per second (wall) and process CPU time per token. Waves
 * repeat until at least {@code --min-tokens} tokens were moved at each stream count.
 *
 * <pre>
 * java -cp benchmarks.jar dev.sluice.bench.ManyStreams --contender sluice --counts 1,10,100,1000,10000
 * </pre>
 */
public final class ManyStreams {

  private ManyStreams() {}

  public static void main(String[] args) throws Exception {
    String name = Results.arg(args, "contender", "sluice");
    String[] counts = Results.arg(args, "counts", "1,10,100,1000,10000").split(",");
    int tokens = Results.intArg(args, "tokens", 1000);
    long minTokens = Long.parseLong(Results.arg(args, "min-tokens", "2000000"));
    long warmupMillis = Long.parseLong(Results.arg(args, "warmup-ms", "3000"));
    long windowMillis = Long.parseLong(Results.arg(args, "max-wave-ms", "20000"));
    int max = 0;
    for (String s : counts) {
      max = Math.max(max, Integer.parseInt(s.trim()));
    }
    System.out.printf(
        "ManyStreams %s on JDK %s (%s threads), counts %s, %d tokens per stream%n",
        name, Results.jdk(), Threads.mode(), String.join(",", counts), tokens);
    try (Contender c = Contenders.create(name, max)) {
      // Warm-up: JIT the paths with mid-size waves.
      long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(warmupMillis);
      while (System.nanoTime() - end < 0) {
        wave(c, Math.min(100, max), tokens, 0, true);
      }
      for (int k = 0; k < counts.length; k++) {
        String s = counts[k];
        int n = Integer.parseInt(s.trim());
        boolean last = k == counts.length - 1;
        long moved = 0;
        long wall = 0;
        long cpu = 0;
        int waves = 0;
        // One unmeasured wave (up to 1,000 streams): threads created, pools grown.
        wave(c, Math.min(n, 1000), tokens, windowMillis, true);
        boolean partial = false;
        do {
          long[] r = wave(c, n, tokens, windowMillis, !last);
          moved += r[2];
          wall += r[0];
          cpu += r[1];
          waves++;
          partial |= r[2] < (long) n * tokens;
        } while (moved < minTokens && !partial);
        String scenario = "streams=" + n;
        Results.add("P5", scenario, name, "tokens_per_s", moved * 1e9 / wall);
        Results.add("P5", scenario, name, "cpu_ns_per_token", (double) cpu / moved);
        Results.add("P5", scenario, name, "wall_ns_per_token", (double) wall / moved);
        Results.add("P5", scenario, name, "waves", waves);
        Results.add("P5", scenario, name, "window_cut", partial ? 1 : 0);
      }
    }
    System.exit(0); // pools of parked threads: no need to wait for them
  }

  /**
   * One wave: n streams opened, then released together. Returns {wall ns, cpu ns, tokens moved}.
   * A wave still running after {@code windowMillis} (0: no limit) is measured up to then, at full
   * concurrency, and its streams are cancelled: 10,000 platform-thread streams take minutes.
   */
  static long[] wave(Contender c, int n, int tokens, long windowMillis, boolean cleanUp)
      throws InterruptedException {
    CountDownLatch ready = new CountDownLatch(n);
    CountDownLatch go = new CountDownLatch(1);
    CountDownLatch done = new CountDownLatch(n);
    long start = System.nanoTime();
    List<Counting> readers = new ArrayList<>(n);
    List<Contender.Stream> streams = new ArrayList<>(n);
    Contender.Source source =
        out -> {
          ready.countDown();
          go.await();
          for (int i = 0; i < tokens; i++) {
            out.send(Tokens.get(i));
          }
        };
    for (int i = 0; i < n; i++) {
      Counting r = new Counting(done);
      readers.add(r);
      streams.add(c.open(source, r));
    }
    long opened = System.nanoTime();
    if (!ready.await(120, TimeUnit.SECONDS)) {
      throw new IllegalStateException(c.name() + ": producers did not start: " + ready.getCount() + " of " + n + " missing");
    }
    long cpu0 = Results.processCpuNanos();
    long t0 = System.nanoTime();
    if (n >= 1000) {
      System.out.printf("%s: %d streams opened in %d ms, all producers ready after %d ms%n", c.name(), n,
          TimeUnit.NANOSECONDS.toMillis(opened - start), TimeUnit.NANOSECONDS.toMillis(t0 - start));
    }
    go.countDown();
    boolean complete = done.await(windowMillis > 0 ? windowMillis : 300_000, TimeUnit.MILLISECONDS);
    long t1 = System.nanoTime();
    long cpu1 = Results.processCpuNanos();
    if (!complete) {
      long moved = 0;
      for (Counting r : readers) {
        moved += (long) Counting.TOKENS.getOpaque(r);
      }
      System.out.printf(
          "%s: %d streams cut after %d ms, %d tokens moved; cancelling%n",
          c.name(), n, TimeUnit.NANOSECONDS.toMillis(t1 - t0), moved);
      if (!cleanUp) {
        return new long[] {t1 - t0, cpu1 - cpu0, moved}; // the last wave: the JVM exits next
      }
      for (Contender.Stream s : streams) {
        s.cancel();
      }
      if (!done.await(120, TimeUnit.SECONDS)) {
        throw new IllegalStateException(c.name() + ": " + done.getCount() + " streams did not end after cancel");
      }
      System.out.printf("%s: cancelled in %d ms%n", c.name(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t1));
      return new long[] {t1 - t0, cpu1 - cpu0, moved};
    }
    for (Counting r : readers) {
      if (r.tokens != tokens || r.cancelled) {
        throw new IllegalStateException(c.name() + ": a reader got " + r.tokens + " tokens, cancelled " + r.cancelled);
      }
    }
    return new long[] {t1 - t0, cpu1 - cpu0, (long) n * tokens};
  }

  /** Counts tokens (an opaque store: a plain mov, readable mid-wave); counts the end down. */
  static final class Counting implements Contender.Reader {
    static final java.lang.invoke.VarHandle TOKENS;

    static {
      try {
        TOKENS =
            java.lang.invoke.MethodHandles.lookup().findVarHandle(Counting.class, "tokens", long.class);
      } catch (ReflectiveOperationException e) {
        throw new ExceptionInInitializerError(e);
      }
    }

    private final CountDownLatch done;
    long tokens;
    long sum;
    boolean cancelled;

    Counting(CountDownLatch done) {
      this.done = done;
    }

    @Override
    public void onToken(String token) {
      TOKENS.setOpaque(this, tokens + 1);
      sum += token.length();
    }

    @Override
    public void onEnd(boolean cancelled) {
      this.cancelled = cancelled;
      done.countDown();
    }
  }
}
