package dev.sluice.bench;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.CountDownLatch;

/**
 * Profiling aid for P1 (not part of RESULTS.md): streams {@code --tokens} tokens through one stream,
 * {@code --rounds} times, and reports tokens/s with the process's context switches per 1,000 tokens
 * (Linux /proc), which shows how often the producer and the reader park and wake each other.
 *
 * <pre>
 * java -cp benchmarks.jar dev.sluice.bench.HotPath --contender sluice --tokens 5000000 --rounds 5
 * </pre>
 */
public final class HotPath {

  private HotPath() {}

  public static void main(String[] args) throws Exception {
    String name = Results.arg(args, "contender", "sluice");
    int tokens = Results.intArg(args, "tokens", 5_000_000);
    int rounds = Results.intArg(args, "rounds", 5);
    try (Contender c = Contenders.create(name, 4)) {
      for (int r = -2; r < rounds; r++) { // two warm-up rounds
        long[] cs0 = contextSwitches();
        long t0 = System.nanoTime();
        long cpu0 = Results.processCpuNanos();
        CountDownLatch done = new CountDownLatch(1);
        long[] count = new long[1];
        c.open(
            out -> {
              for (int i = 0; i < tokens; i++) {
                out.send(Tokens.get(i));
              }
            },
            new Contender.Reader() {
              @Override
              public void onToken(String token) {
                count[0] += token.length() > 0 ? 1 : 0;
              }

              @Override
              public void onEnd(boolean cancelled) {
                done.countDown();
              }
            });
        done.await();
        long t1 = System.nanoTime();
        long cpu1 = Results.processCpuNanos();
        long[] cs1 = contextSwitches();
        if (r >= 0) {
          System.out.printf(
              "%-22s %6.2f M tokens/s  cpu %5.0f ns/token  voluntary cs %7.2f / 1k tokens  involuntary %6.2f / 1k%n",
              name,
              tokens * 1e3 / (t1 - t0),
              (double) (cpu1 - cpu0) / tokens,
              (cs1[0] - cs0[0]) * 1000.0 / tokens,
              (cs1[1] - cs0[1]) * 1000.0 / tokens);
        }
      }
    }
    System.exit(0);
  }

  /** {voluntary, involuntary} context switches summed over this process's threads. */
  static long[] contextSwitches() throws IOException {
    long[] sum = new long[2];
    try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Paths.get("/proc/self/task"))) {
      for (Path t : tasks) {
        try {
          for (String line : Files.readAllLines(t.resolve("status"))) {
            if (line.startsWith("voluntary_ctxt_switches:")) {
              sum[0] += Long.parseLong(line.substring(24).trim());
            } else if (line.startsWith("nonvoluntary_ctxt_switches:")) {
              sum[1] += Long.parseLong(line.substring(27).trim());
            }
          }
        } catch (IOException e) {
          // the thread ended meanwhile
        }
      }
    }
    return sum;
  }
}
