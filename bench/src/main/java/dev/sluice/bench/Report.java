package dev.sluice.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Writes RESULTS.md from the results file and the run's metadata: {@code java -cp benchmarks.jar
 * dev.sluice.bench.Report results.tsv meta.txt RESULTS.md}.
 */
public final class Report {

  private static final List<String> ORDER =
      List.of("sluice", "abq", "abq-minimal", "submission-publisher", "reactor", "spsc");

  private final List<String[]> rows = new ArrayList<>();
  private final StringBuilder md = new StringBuilder();

  private Report() {}

  public static void main(String[] args) throws IOException {
    Report r = new Report();
    Path tsv = Paths.get(args[0]);
    if (Files.exists(tsv)) {
      for (String line : Files.readAllLines(tsv, StandardCharsets.UTF_8)) {
        String[] f = line.split("\t");
        if (f.length == 7) {
          r.rows.add(f);
        }
      }
    }
    Map<String, String> meta = new LinkedHashMap<>();
    for (String line : Files.readAllLines(Paths.get(args[1]), StandardCharsets.UTF_8)) {
      int eq = line.indexOf('=');
      if (eq > 0) {
        meta.put(line.substring(0, eq), line.substring(eq + 1));
      }
    }
    r.write(meta);
    Files.write(Paths.get(args[2]), r.md.toString().getBytes(StandardCharsets.UTF_8));
  }

  // ------------------------------------------------------------------ queries

  private Double value(String axis, String jdk, String scenario, String contender, String metric) {
    for (String[] f : rows) {
      if (f[0].equals(axis)
          && (jdk == null || f[1].equals(jdk))
          && f[3].equals(scenario)
          && f[4].equals(contender)
          && f[5].equals(metric)) {
        return Double.valueOf(f[6]);
      }
    }
    return null;
  }

  private Set<String> distinct(String axis, int column, String jdk) {
    Set<String> s = new LinkedHashSet<>();
    for (String[] f : rows) {
      if (f[0].equals(axis) && (jdk == null || f[1].equals(jdk))) {
        s.add(f[column]);
      }
    }
    return s;
  }

  private String threadsOf(String axis, String jdk) {
    for (String[] f : rows) {
      if (f[0].equals(axis) && f[1].equals(jdk) && !f[4].startsWith("floor")) {
        return f[2];
      }
    }
    return "?";
  }

  private List<String> contenders(String axis, String jdk) {
    Set<String> present = distinct(axis, 4, jdk);
    List<String> out = new ArrayList<>();
    for (String c : ORDER) {
      if (present.contains(c)) {
        out.add(c);
      }
    }
    for (String c : present) {
      if (!out.contains(c) && !c.startsWith("floor")) {
        out.add(c);
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ formatting

  private static String num(Double v) {
    if (v == null || v.isNaN()) {
      return "–";
    }
    double a = Math.abs(v);
    if (a >= 1e6) {
      return String.format(Locale.ROOT, "%.2f M", v / 1e6);
    }
    if (a >= 1e4) {
      return String.format(Locale.ROOT, "%.0f k", v / 1e3);
    }
    if (a >= 100) {
      return String.format(Locale.ROOT, "%.0f", v);
    }
    return String.format(Locale.ROOT, "%.1f", v);
  }

  private static String ratio(Double sluice, Double peer) {
    if (sluice == null || peer == null || peer == 0 || sluice.isNaN() || peer.isNaN()) {
      return "–";
    }
    return String.format(Locale.ROOT, "%.2f×", sluice / peer);
  }

  private void line(String s) {
    md.append(s).append('\n');
  }

  // ------------------------------------------------------------------ the document

  private void write(Map<String, String> meta) {
    boolean quick = "true".equals(meta.get("quick"));
    line("# Sluice benchmarks: results");
    line("");
    if (quick) {
      line("> **Quick run** (`--quick`): very short measurements, fewer streams and samples. A smoke");
      line("> check that every axis works and an order of magnitude, not a result to quote.");
      line("");
    }
    if (meta.containsKey("note")) {
      line("> " + meta.get("note"));
      line("");
    }
    line("| | |");
    line("|---|---|");
    for (String k : List.of("date", "command", "machine", "cpus", "memory", "load_before", "load_after", "jdk17", "jdk25", "duration_s", "failures")) {
      if (meta.containsKey(k)) {
        line("| " + k + " | " + meta.get(k).replace("|", "\\|") + " |");
      }
    }
    line("");
    line("Contenders, all with a buffer of 64 and the same pre-made token strings: **sluice**;");
    line("**abq** a hand-written `ArrayBlockingQueue(64)` hand-off with a poison pill;");
    line("**submission-publisher** JDK `SubmissionPublisher(executor, 64)` with one subscriber;");
    line("**reactor** `Sinks.many().unicast().onBackpressureBuffer(queue 64)` + `publishOn(boundedElastic, 64)`;");
    line("**spsc** JCTools `SpscArrayQueue(64)` with spin-then-park on both sides (the physical reference).");
    line("Ratios are Sluice / peer: above 1 is better for Sluice on throughput, below 1 is better on costs and latencies.");
    line("");
    p1();
    p2();
    p3();
    p4();
    p5();
    targets();
  }

  private void p1() {
    line("## P1: single-stream throughput (tokens/s, higher is better)");
    line("");
    line("JMH, one producer and one reader, 50,000 tokens per operation.");
    line("");
    for (String jdk : distinct("P1", 1, null)) {
      line("### JDK " + jdk + " (" + threadsOf("P1", jdk) + " threads)");
      line("");
      line("| contender | tokens/s | ± (99.9%) | Sluice / peer |");
      line("|---|---:|---:|---:|");
      Double s = value("P1", jdk, "single-stream", "sluice", "tokens_per_s");
      for (String c : contenders("P1", jdk)) {
        Double v = value("P1", jdk, "single-stream", c, "tokens_per_s");
        Double e = value("P1", jdk, "single-stream", c, "tokens_per_s_error");
        line("| " + c + " | " + num(v) + " | " + num(e) + " | " + (c.equals("sluice") ? "" : ratio(s, v)) + " |");
      }
      line("");
    }
  }

  private void p2() {
    line("## P2: many streams (1,000 and 10,000 concurrent streams of 1,000 tokens)");
    line("");
    line("All streams opened, then released together; wall time from release to the last terminal");
    line("event. CPU is the whole process's (GC and JIT included) over the same interval. A wave");
    line("still running after its window (8 s; 3 s quick) is measured up to then, at full concurrency.");
    line("JDK 17 at 10,000 streams (20,000 platform threads) runs only with `--with-jdk17-10k`.");
    line("");
    for (String jdk : distinct("P5", 1, null)) {
      for (String n : List.of("1000", "10000")) {
        String sc = "streams=" + n;
        if (value("P5", jdk, sc, "sluice", "tokens_per_s") == null && contenders("P5", jdk).stream().noneMatch(c -> value("P5", jdk, sc, c, "tokens_per_s") != null)) {
          continue;
        }
        line("### JDK " + jdk + " (" + threadsOf("P5", jdk) + " threads), " + n + " streams");
        line("");
        line("| contender | tokens/s | CPU ns/token | Sluice/peer tokens/s | Sluice/peer CPU per token |");
        line("|---|---:|---:|---:|---:|");
        Double st = value("P5", jdk, sc, "sluice", "tokens_per_s");
        Double sc2 = value("P5", jdk, sc, "sluice", "cpu_ns_per_token");
        for (String c : contenders("P5", jdk)) {
          Double t = value("P5", jdk, sc, c, "tokens_per_s");
          Double cpu = value("P5", jdk, sc, c, "cpu_ns_per_token");
          boolean me = c.equals("sluice");
          line("| " + c + " | " + (t == null ? "failed / not run" : num(t)) + " | " + num(cpu) + " | " + (me ? "" : ratio(st, t)) + " | " + (me ? "" : ratio(sc2, cpu)) + " |");
        }
        line("");
      }
    }
  }

  private void p3() {
    line("## P3: footprint of an open, idle stream (heap bytes, lower is better)");
    line("");
    line("Each stream: its producer parked waiting for its first upstream token, a reader attached but");
    line("not reading. Heap used after full GC, minus the baseline, divided by the number of streams.");
    line("**abq-minimal** is the hand-written minimum: `Thread.startVirtualThread` parked in");
    line("`ArrayBlockingQueue(64)`, no executor; **abq** is the same hand-off through an executor.");
    line("");
    for (String jdk : distinct("P3", 1, null)) {
      Set<String> scenarios = new TreeSet<>(distinct("P3", 3, jdk));
      for (String sc : scenarios) {
        if (!sc.startsWith("idle-streams=")) {
          continue;
        }
        line("### JDK " + jdk + " (" + threadsOf("P3", jdk) + " threads), " + sc.substring(13) + " idle streams");
        line("");
        line("| contender | bytes/stream | µs to open | Sluice / peer | est. streams in 2 GB |");
        line("|---|---:|---:|---:|---:|");
        Double s = value("P3", jdk, sc, "sluice", "bytes_per_stream");
        for (String c : contenders("P3", jdk)) {
          Double v = value("P3", jdk, sc, c, "bytes_per_stream");
          if (v == null) {
            continue;
          }
          Double open = value("P3", jdk, sc, c, "open_us_per_stream");
          String est = v > 0 ? String.format(Locale.ROOT, "%,d", (long) ((2048.0 * 1024 * 1024) / v)) : "–";
          line("| " + c + " | " + num(v) + " | " + num(open) + " | " + (c.equals("sluice") ? "" : ratio(s, v)) + " | " + est + " |");
        }
        line("");
      }
      boolean header = false;
      for (String sc : scenarios) {
        if (!sc.startsWith("fit-")) {
          continue;
        }
        if (!header) {
          line("### JDK " + jdk + ": largest number of open idle streams in a fixed heap");
          line("");
          line("| contender | heap | streams open | target reached |");
          line("|---|---|---:|---|");
          header = true;
        }
        for (String c : contenders("P3", jdk)) {
          Double v = value("P3", jdk, sc, c, "streams_open");
          if (v == null) {
            continue;
          }
          Double ok = value("P3", jdk, sc, c, "target_reached");
          line("| " + c + " | " + sc.substring(8) + " | " + String.format(Locale.ROOT, "%,d", v.longValue()) + " | " + (ok != null && ok > 0 ? "yes" : "no") + " |");
        }
      }
      if (header) {
        line("");
      }
    }
  }

  private void p4() {
    line("## P4: cancel latency (µs, lower is better)");
    line("");
    line("**producer**: from `cancel()` to a producer blocked on a full buffer being released;");
    line("**terminal**: from `cancel()` to a reader blocked on an empty stream receiving the end.");
    line("Cancel per contender: Sluice `handle.cancel()`; abq `Future.cancel(true)` + poison pill;");
    line("submission-publisher `close()`; reactor `tryEmitError` + unpark; spsc flag + unpark.");
    line("A sample not released within 250 ms counts as not released. **floor**: bare `unpark` to");
    line("the parked thread running. Load: other streams of the same contender, each sending a token");
    line("every 100 ms to a reader.");
    line("");
    for (String jdk : distinct("P4", 1, null)) {
      List<String> scs = new ArrayList<>(distinct("P4", 3, jdk));
      for (String sc : scs) {
        if (sc.startsWith("unpark")) {
          continue;
        }
        line("### JDK " + jdk + " (" + threadsOf("P4", jdk) + " threads), " + sc);
        line("");
        line("| contender | p50 | p99 | p99.9 | not released / samples | Sluice / peer p50 |");
        line("|---|---:|---:|---:|---:|---:|");
        Double s = value("P4", jdk, sc, "sluice", "p50_us");
        for (String c : contenders("P4", jdk)) {
          Double n = value("P4", jdk, sc, c, "samples");
          if (n == null) {
            continue;
          }
          Double nr = value("P4", jdk, sc, c, "not_released");
          Double blocked = value("P4", jdk, sc, c, "cancel_call_blocked");
          Double p50 = value("P4", jdk, sc, c, "p50_us");
          String rel = String.format(Locale.ROOT, "%d / %d", nr.longValue(), n.longValue());
          if (blocked != null && blocked > 0) {
            rel += String.format(Locale.ROOT, " (cancel call itself blocked %d×)", blocked.longValue());
          }
          line("| " + c + " | " + num(p50) + " | " + num(value("P4", jdk, sc, c, "p99_us")) + " | " + num(value("P4", jdk, sc, c, "p999_us")) + " | " + rel + " | " + (c.equals("sluice") ? "" : ratio(s, p50)) + " |");
        }
        for (String f : List.of("floor-platform", "floor-virtual")) {
          String fsc = "unpark/" + sc.substring(sc.indexOf('/') + 1);
          Double p50 = value("P4", jdk, fsc, f, "p50_us");
          if (p50 != null) {
            line("| *" + f + "* | " + num(p50) + " | " + num(value("P4", jdk, fsc, f, "p99_us")) + " | " + num(value("P4", jdk, fsc, f, "p999_us")) + " | | " + ratio(s, p50) + " |");
          }
        }
        line("");
      }
    }
  }

  private void p5() {
    line("## P5: scaling, CPU ns per token from 1 to 10,000 concurrent streams (lower is better)");
    line("");
    for (String jdk : distinct("P5", 1, null)) {
      List<String> counts = new ArrayList<>();
      for (String sc : distinct("P5", 3, jdk)) {
        counts.add(sc.substring(8));
      }
      counts.sort((a, b) -> Integer.compare(Integer.parseInt(a), Integer.parseInt(b)));
      line("### JDK " + jdk + " (" + threadsOf("P5", jdk) + " threads): CPU ns/token (wall ns/token)");
      line("");
      StringBuilder h = new StringBuilder("| contender |");
      StringBuilder sep = new StringBuilder("|---|");
      for (String n : counts) {
        h.append(' ').append(n).append(" |");
        sep.append("---:|");
      }
      line(h.toString());
      line(sep.toString());
      for (String c : contenders("P5", jdk)) {
        StringBuilder r = new StringBuilder("| " + c + " |");
        for (String n : counts) {
          Double cpu = value("P5", jdk, "streams=" + n, c, "cpu_ns_per_token");
          Double wall = value("P5", jdk, "streams=" + n, c, "wall_ns_per_token");
          r.append(' ').append(cpu == null ? "–" : num(cpu) + " (" + num(wall) + ")").append(" |");
        }
        line(r.toString());
      }
      for (String c : contenders("P5", jdk)) {
        if (c.equals("sluice")) {
          continue;
        }
        StringBuilder r = new StringBuilder("| *Sluice / " + c + " CPU* |");
        for (String n : counts) {
          r.append(' ').append(ratio(value("P5", jdk, "streams=" + n, "sluice", "cpu_ns_per_token"), value("P5", jdk, "streams=" + n, c, "cpu_ns_per_token"))).append(" |");
        }
        line(r.toString());
      }
      line("");
    }
  }

  private void targets() {
    line("## Targets of the issue, checked against this run");
    line("");
    line("| target | measured | met |");
    line("|---|---|---|");
    for (String jdk : distinct("P1", 1, null)) {
      Double s = value("P1", jdk, "single-stream", "sluice", "tokens_per_s");
      Double r = value("P1", jdk, "single-stream", "spsc", "tokens_per_s");
      if (s != null && r != null) {
        line("| P1 JDK " + jdk + ": Sluice ≥ 0.5× SPSC | " + ratio(s, r) + " | " + (s >= 0.5 * r ? "yes" : "**no**") + " |");
      }
    }
    for (String jdk : distinct("P5", 1, null)) {
      for (String n : List.of("1000", "10000")) {
        String sc = "streams=" + n;
        Double s = value("P5", jdk, sc, "sluice", "cpu_ns_per_token");
        Double best = null;
        String bestName = null;
        for (String c : contenders("P5", jdk)) {
          Double v = value("P5", jdk, sc, c, "cpu_ns_per_token");
          if (!c.equals("sluice") && v != null && (best == null || v < best)) {
            best = v;
            bestName = c;
          }
        }
        if (s != null && best != null) {
          line("| P2 JDK " + jdk + ", " + n + " streams: CPU/token ≤ 0.5× best peer (" + bestName + ") | " + ratio(s, best) + " | " + (s <= 0.5 * best ? "yes" : "**no**") + " |");
        }
      }
    }
    for (String jdk : distinct("P3", 1, null)) {
      for (String sc : new TreeSet<>(distinct("P3", 3, jdk))) {
        Double s = value("P3", jdk, sc, "sluice", "bytes_per_stream");
        Double m = value("P3", jdk, sc, "abq-minimal", "bytes_per_stream");
        if (s != null && m != null) {
          line("| P3 JDK " + jdk + " " + sc + ": heap/stream ≤ 1.0× VT + ABQ minimum | " + num(s) + " B vs " + num(m) + " B = " + ratio(s, m) + " | " + (s <= m ? "yes" : "**no**") + " |");
        }
        Double fit = value("P3", jdk, sc, "sluice", "target_reached");
        if (fit != null) {
          line("| P3 JDK " + jdk + ": 1M open streams, " + sc.substring(4) + " | " + num(value("P3", jdk, sc, "sluice", "streams_open")) + " open | " + (fit > 0 ? "yes" : "**no**") + " |");
        }
      }
    }
    for (String jdk : distinct("P4", 1, null)) {
      String threads = threadsOf("P4", jdk);
      for (String sc : distinct("P4", 3, jdk)) {
        if (sc.startsWith("unpark")) {
          continue;
        }
        Double s50 = value("P4", jdk, sc, "sluice", "p50_us");
        Double s99 = value("P4", jdk, sc, "sluice", "p99_us");
        Double floor = value("P4", jdk, "unpark/idle", "floor-" + threads, "p50_us");
        if (sc.endsWith("/idle") && s50 != null && floor != null) {
          line("| P4 JDK " + jdk + " " + sc + ": p50 ≤ 1.2× unpark floor (" + threads + ", " + num(floor) + " µs) | " + num(s50) + " µs = " + ratio(s50, floor) + " | " + (s50 <= 1.2 * floor ? "yes" : "**no**") + " |");
        }
        if (sc.contains("load") && s99 != null) {
          line("| P4 JDK " + jdk + " " + sc + ": p99 ≤ 250 µs | " + num(s99) + " µs | " + (s99 <= 250 ? "yes" : "**no**") + " |");
        }
        Double nr = value("P4", jdk, sc, "sluice", "not_released");
        if (sc.startsWith("producer") && nr != null) {
          line("| P4 JDK " + jdk + " " + sc + ": cancel releases every blocked producer | " + nr.longValue() + " not released | " + (nr == 0 ? "yes" : "**no**") + " |");
        }
      }
    }
    line("");
    line("The P1 check is relative to the SPSC reference of the same run. The issue saw ≈ 21 M tokens/s");
    line("for it on a quiet 2-core machine; an spsc row far below that means the cores were shared");
    line("(spin-then-park degrades when the partner thread is not running) and the check says little.");
    line("P3 moves by about ±10 % from run to run: a parked virtual thread keeps its frames as they");
    line("were when it parked, interpreted or compiled.");
    line("");
    line("`close()` releasing every blocked producer is covered by the core's tests; here, the");
    line("submission-publisher rows show the peer's `close()` does not.");
  }
}
