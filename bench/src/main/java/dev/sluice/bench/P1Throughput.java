package dev.sluice.bench;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * P1, single-stream throughput: one producer sends {@value #TOKENS} pre-made tokens through a
 * buffer of 64 to one reader; the score is tokens per second. The producer and the reader are the
 * contender's own threads; the benchmark thread only waits for the end signal (one wake-up per
 * {@value #TOKENS} tokens).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 2, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class P1Throughput {

  static final int TOKENS = 50_000;

  @Param({"sluice", "abq", "submission-publisher", "reactor", "spsc"})
  public String contender;

  private Contender c;

  @Setup(Level.Trial)
  public void setUp() {
    c = Contenders.create(contender, 4);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    c.close();
  }

  @Benchmark
  @OperationsPerInvocation(TOKENS)
  public long stream() throws InterruptedException {
    Counting reader = new Counting();
    c.open(
        out -> {
          for (int i = 0; i < TOKENS; i++) {
            out.send(Tokens.get(i));
          }
        },
        reader);
    reader.done.await();
    if (reader.tokens != TOKENS || reader.cancelled) {
      throw new IllegalStateException(
          contender + ": " + reader.tokens + " tokens, cancelled " + reader.cancelled);
    }
    return reader.sum;
  }

  /** Counts tokens and their lengths (so nothing is dead code), then signals the end. */
  static final class Counting implements Contender.Reader {
    final CountDownLatch done = new CountDownLatch(1);
    long tokens;
    long sum;
    boolean cancelled;

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
