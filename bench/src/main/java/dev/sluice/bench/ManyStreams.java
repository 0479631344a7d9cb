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
        wave(c, Math.min(100, max), tokens);
      }
      for (String s : counts) {
        int n = Integer.parseInt(s.trim());
        long moved = 0;
        long wall = 0;
        long cpu = 0;
        int waves = 0;
        wave(c, n, tokens); // one unmeasured wave at this size: threads created, pools grown
        do {
          long[] r = wave(c, n, tokens);
          moved += (long) n * tokens;
          wall += r[0];
          cpu += r[1];
          waves++;
        } while (moved < minTokens);
        String scenario = "streams=" + n;
        Results.add("P5", scenario, name, "tokens_per_s", moved * 1e9 / wall);
        Results.add("P5", scenario, name, "cpu_ns_per_token", (double) cpu / moved);
        Results.add("P5", scenario, name, "wall_ns_per_token", (double) wall / moved);
        Results.add("P5", scenario, name, "waves", waves);
      }
    }
    System.exit(0); // pools of parked threads: no need to wait for them
  }

  /** One wave: n streams opened, then released together. Returns {wall ns, cpu ns}. */
  static long[] wave(Contender c, int n, int tokens) throws InterruptedException {
    CountDownLatch ready = new CountDownLatch(n);
    CountDownLatch go = new CountDownLatch(1);
    CountDownLatch done = new CountDownLatch(n);
    List<Counting> readers = new ArrayList<>(n);
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
      c.open(source, r);
    }
    if (!ready.await(120, TimeUnit.SECONDS)) {
      throw new IllegalStateException(c.name() + ": producers did not start: " + ready.getCount() + " of " + n + " missing");
    }
    long cpu0 = Results.processCpuNanos();
    long t0 = System.nanoTime();
    go.countDown();
    if (!done.await(300, TimeUnit.SECONDS)) {
      throw new IllegalStateException(c.name() + ": " + done.getCount() + " of " + n + " streams did not end");
    }
    long t1 = System.nanoTime();
    long cpu1 = Results.processCpuNanos();
    for (Counting r : readers) {
      if (r.tokens != tokens || r.cancelled) {
        throw new IllegalStateException(c.name() + ": a reader got " + r.tokens + " tokens, cancelled " + r.cancelled);
      }
    }
    return new long[] {t1 - t0, cpu1 - cpu0};
  }

  /** Counts tokens; counts the end down. */
  static final class Counting implements Contender.Reader {
    private final CountDownLatch done;
    long tokens;
    long sum;
    boolean cancelled;

    Counting(CountDownLatch done) {
      this.done = done;
    }

    @Override
    public void onToken(String token) {
      tokens++;
      sum += token.length();
    }

    @Override
    public void onEnd(boolean cancelled) {
      this.cancelled = cancelled;
      done.countDown();
    }
  }
}
