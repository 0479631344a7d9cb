package dev.sluice.bench;

import java.util.Collection;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;

/**
 * Runs JMH with its usual command line and appends each score to the results file: {@code java -cp
 * benchmarks.jar dev.sluice.bench.JmhMain P1Throughput -f 2 -wi 3 -i 5}.
 */
public final class JmhMain {

  private JmhMain() {}

  public static void main(String[] args) throws Exception {
    Collection<RunResult> results = new Runner(new CommandLineOptions(args)).run();
    for (RunResult r : results) {
      String contender = r.getParams().getParam("contender");
      Result<?> primary = r.getPrimaryResult();
      String bench = r.getParams().getBenchmark();
      String axis = bench.contains("P1") ? "P1" : bench.substring(bench.lastIndexOf('.') + 1);
      Results.add(axis, "single-stream", contender, "tokens_per_s", primary.getScore());
      Results.add(axis, "single-stream", contender, "tokens_per_s_error", primary.getScoreError());
      Results.add(
          axis, "single-stream", contender, "samples", primary.getStatistics().getN());
    }
  }
}
