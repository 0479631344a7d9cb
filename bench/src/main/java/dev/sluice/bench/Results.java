package dev.sluice.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

/**
 * Appends result lines to the file named by {@code -Dbench.out} (default {@code
 * target/results/results.tsv}): {@code axis, jdk, threads, scenario, contender, metric, value}, tab
 * separated. {@link Report} turns them into RESULTS.md.
 */
public final class Results {

  private Results() {}

  /** This JVM's feature version, e.g. "17". */
  public static String jdk() {
    return Integer.toString(Runtime.version().feature());
  }

  /** Appends one line, and echoes it to stdout. */
  public static synchronized void add(
      String axis, String scenario, String contender, String metric, double value) {
    add(axis, jdk(), Threads.mode(), scenario, contender, metric, value);
  }

  /** Appends one line with an explicit jdk and thread mode. */
  public static synchronized void add(
      String axis,
      String jdk,
      String threads,
      String scenario,
      String contender,
      String metric,
      double value) {
    String line =
        String.join(
                "\t",
                axis,
                jdk,
                threads,
                scenario,
                contender,
                metric,
                String.format(Locale.ROOT, "%.6g", value))
            + "\n";
    System.out.print("RESULT " + line);
    Path out = Paths.get(System.getProperty("bench.out", "target/results/results.tsv"));
    try {
      if (out.getParent() != null) {
        Files.createDirectories(out.getParent());
      }
      Files.write(
          out,
          line.getBytes(StandardCharsets.UTF_8),
          StandardOpenOption.CREATE,
          StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** CPU time used by this process so far, in nanoseconds (all threads, GC and JIT included). */
  public static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  /** Reads an {@code --name value} argument, or the default. */
  static String arg(String[] args, String name, String def) {
    for (int i = 0; i < args.length - 1; i++) {
      if (args[i].equals("--" + name)) {
        return args[i + 1];
      }
    }
    return def;
  }

  static int intArg(String[] args, String name, int def) {
    return Integer.parseInt(arg(args, name, Integer.toString(def)));
  }
}
