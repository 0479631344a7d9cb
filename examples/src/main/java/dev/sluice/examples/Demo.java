package dev.sluice.examples;

import dev.sluice.DetachPolicy;
import dev.sluice.StreamManager;
import java.io.PrintStream;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.jspecify.annotations.Nullable;

/**
 * The demo: N concurrent clients against real chat servers over real HTTP on loopback. Some read to
 * the end, some cancel mid-stream, some cancel before reading, some disconnect abruptly, some
 * disconnect and resume. It prints a live progress line and a report, and returns non-zero if any
 * invariant was violated.
 */
final class Demo {

  /* Implementation notes
   *
   * Two servers, because the detach policy is per manager: server A (detach = cancel, the seed's
   * behaviour) serves the clients that read, cancel and disconnect; server B (detach = keep-running)
   * serves the clients that resume. Both run the same fake LLM, so every full answer is known in
   * advance and checked token for token.
   *
   * The worker executor is supplied by the demo (as the builder allows) so that "0 live worker
   * threads" is measured, not assumed: every source task counts itself in and out, and the pool is
   * shut down and awaited at the end.
   *
   * Every wait is bounded: clients by a global deadline (their connections are dropped when it
   * passes), the drains by fixed timeouts. A bound that passes is reported as a violation.
   */

  /** The demo's settings. */
  record Config(int clients, long seed, double pace, Duration firstTokenDelay, int tokens) {
    Config {
      if (clients <= 0 || clients > 10_000) {
        throw new IllegalArgumentException("--clients must be in [1, 10000], got " + clients);
      }
      if (tokens < 12) {
        throw new IllegalArgumentException("--tokens must be >= 12 for the demo, got " + tokens);
      }
    }

    static Config from(Map<String, String> flags) {
      Main.checkKnown(flags, "clients", "seed", "pace", "first-token-delay", "tokens");
      FakeLlm llm = Main.fakeLlm(flags, DEFAULT_PACE, DEFAULT_FIRST_TOKEN_DELAY, DEFAULT_TOKENS); // validates the values
      String seed = flags.getOrDefault("seed", "42");
      long s;
      try {
        s = Long.parseLong(seed);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("--seed must be an integer, got \"" + seed + "\"");
      }
      String pace = flags.get("pace");
      return new Config(
          Main.intFlag(flags, "clients", 200),
          s,
          pace == null ? DEFAULT_PACE : Double.parseDouble(pace),
          Main.durationFlag(flags, "first-token-delay", DEFAULT_FIRST_TOKEN_DELAY),
          llm.answer("x").size());
    }
  }

  /** What a client does. */
  enum Kind {
    HAPPY("read to the end", "completed", 40),
    CANCEL_MID("cancel mid-stream", "cancelled", 15),
    CANCEL_BEFORE("cancel before reading", "cancelled", 15),
    DISCONNECT("disconnect abruptly", "cancelled", 15),
    RESUME("resume after disconnect", "completed", 15);

    final String label;
    final String expected;
    final int percent;

    Kind(String label, String expected, int percent) {
      this.label = label;
      this.expected = expected;
      this.percent = percent;
    }
  }

  static final String KEY = "demo-key";
  static final double DEFAULT_PACE = 40;
  static final Duration DEFAULT_FIRST_TOKEN_DELAY = Duration.ofMillis(200);
  static final int DEFAULT_TOKENS = 60;
  /** Clients arrive spread over this long, as users do, rather than in one instant. */
  private static final Duration ARRIVALS = Duration.ofSeconds(1);
  private static final Duration RETENTION = Duration.ofSeconds(1);
  private static final Duration CLIENTS_DEADLINE = Duration.ofSeconds(40);

  private Demo() {}

  static int run(Config config, PrintStream out) throws Exception {
    return new Run(config, out).execute();
  }

  /** One run's state. */
  private static final class Run {
    final Config config;
    final PrintStream out;
    final FakeLlm llm;
    final AtomicInteger liveWorkers = new AtomicInteger();
    final ExecutorService workerPool;
    final List<String> violations = Collections.synchronizedList(new ArrayList<>());
    final AtomicInteger finished = new AtomicInteger();
    final AtomicLong tokensReceived = new AtomicLong();
    final AtomicInteger cancelCalls = new AtomicInteger();
    final Set<ChatClient.Stream> open = ConcurrentHashMap.newKeySet();
    final List<Long> ttftNanos = Collections.synchronizedList(new ArrayList<>());
    final List<Long> serverTtftNanos = Collections.synchronizedList(new ArrayList<>());
    final List<Long> cancelLatencyNanos = Collections.synchronizedList(new ArrayList<>());
    final Map<Kind, AtomicInteger> counts = new EnumMap<>(Kind.class);
    final Map<Kind, Map<String, AtomicInteger>> finals = new EnumMap<>(Kind.class);
    final Map<Kind, AtomicInteger> failures = new EnumMap<>(Kind.class);
    final AtomicInteger cancelLostRace = new AtomicInteger();
    final AtomicInteger completedBeforeDisconnect = new AtomicInteger();

    Run(Config config, PrintStream out) {
      this.config = config;
      this.out = out;
      this.llm = new FakeLlm(config.pace(), config.firstTokenDelay(), config.tokens());
      AtomicInteger n = new AtomicInteger();
      this.workerPool =
          Executors.newCachedThreadPool(
              r -> {
                Thread t = new Thread(r, "demo-worker-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
              });
      for (Kind k : Kind.values()) {
        counts.put(k, new AtomicInteger());
        finals.put(k, new ConcurrentHashMap<>());
        failures.put(k, new AtomicInteger());
      }
    }

    StreamManager manager(DetachPolicy policy) {
      return StreamManager.builder()
          .maxRunning(256)
          .queueCapacity(4 * config.clients())
          .submitTimeout(Duration.ofSeconds(1))
          .deadline(Duration.ofSeconds(30))
          .noReaderTimeout(Duration.ofSeconds(10))
          .retention(RETENTION)
          .removeOnDelivery(false)
          .replayWindow(1024)
          .stopTimeout(Duration.ofSeconds(2))
          .detachPolicy(policy)
          .executor(
              task ->
                  workerPool.execute(
                      () -> {
                        liveWorkers.incrementAndGet();
                        try {
                          task.run();
                        } finally {
                          liveWorkers.decrementAndGet();
                        }
                      }))
          .build();
    }

    int execute() throws Exception {
      ChatServer.Options options =
          ChatServer.Options.loopback(0, Set.of(KEY), DetachPolicy.CANCEL)
              .withIntervals(Duration.ofSeconds(1), Duration.ofMillis(500));
      long started = System.nanoTime();
      HttpClient http = ChatClient.newHttpClient();
      try (ChatServer a = ChatServer.start(manager(DetachPolicy.CANCEL), llm::source, options);
          ChatServer b =
              ChatServer.start(
                  manager(DetachPolicy.KEEP_RUNNING),
                  llm::source,
                  new ChatServer.Options(
                      options.host(), 0, options.apiKeys(), DetachPolicy.KEEP_RUNNING,
                      options.heartbeat(), options.keepAlive()))) {
        out.printf(
            Locale.ROOT,
            "Sluice demo: %d concurrent clients over real HTTP on loopback, %s%n",
            config.clients(),
            llm);
        out.printf("  server A %s  detach=cancel        (read, cancel, disconnect)%n", a.uri());
        out.printf("  server B %s  detach=keep-running  (disconnect, then resume with Last-Event-ID)%n", b.uri());
        out.println();

        List<Kind> kinds = mix();
        ChatClient clientA = new ChatClient(http, a.uri(), KEY);
        ChatClient clientB = new ChatClient(http, b.uri(), KEY);
        CountDownLatch gate = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(kinds.size());
        ExecutorService clients = Executors.newFixedThreadPool(kinds.size(), daemon("demo-client-"));
        for (int i = 0; i < kinds.size(); i++) {
          Kind kind = kinds.get(i);
          int index = i;
          Random random = new Random(config.seed() * 31 + i);
          counts.get(kind).incrementAndGet();
          clients.execute(
              () -> {
                try {
                  gate.await();
                  Thread.sleep(ARRIVALS.toMillis() * index / kinds.size());
                  new Client(this, kind, index, random, kind == Kind.RESUME ? clientB : clientA).run();
                } catch (InterruptedException e) {
                  violation(kind, "client " + index + " interrupted");
                } catch (Exception | AssertionError e) {
                  violation(kind, "client " + index + " (" + kind.label + "): " + e);
                } finally {
                  finished.incrementAndGet();
                  done.countDown();
                }
              });
        }

        ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(daemon("demo-progress-"));
        Progress progress = new Progress(a, b);
        ticker.scheduleAtFixedRate(progress::print, 250, 250, TimeUnit.MILLISECONDS);
        long clientsStarted = System.nanoTime();
        gate.countDown();
        boolean allDone = done.await(CLIENTS_DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
        long clientsNanos = System.nanoTime() - clientsStarted;
        ticker.shutdownNow();
        progress.print();
        progress.end();
        if (!allDone) {
          violations.add(
              (kinds.size() - finished.get()) + " clients had not finished after " + CLIENTS_DEADLINE.toSeconds() + " s");
          open.forEach(ChatClient.Stream::close);
        }
        clients.shutdownNow();

        // Drain: nothing running, then every ended stream leaves the registry after retention.
        boolean drained =
            await(Duration.ofSeconds(10), () -> idle(a) && idle(b))
                && await(RETENTION.plusSeconds(5), () -> retained(a) == 0 && retained(b) == 0);
        ChatClient.Reply statsA = clientA.stats();
        ChatClient.Reply statsB = clientB.stats();
        // A worker frees its slot a moment before its executor task returns: give the tasks that
        // moment, so that a task still on its way out is not counted as a live worker.
        await(Duration.ofSeconds(5), () -> liveWorkers.get() == 0);
        long liveAfterDrain = liveWorkers.get();

        a.close();
        b.close();
        workerPool.shutdown();
        boolean poolEnded = workerPool.awaitTermination(5, TimeUnit.SECONDS);
        // A terminated pool's threads are still alive for the moment they take to exit (seconds on
        // a loaded machine): wait for that, bounded, so that only a thread that stays is counted.
        await(Duration.ofSeconds(5), () -> threadsNamed("demo-worker-") == 0);
        long threadsLeft = threadsNamed("demo-worker-");

        report(kinds.size(), statsA, statsB, drained, liveAfterDrain, poolEnded, threadsLeft, clientsNanos);
        out.printf(
            Locale.ROOT, "%nTotal time %.1f s. Result: %s%n",
            (System.nanoTime() - started) / 1e9,
            violations.isEmpty() ? "PASS (exit 0)" : "FAIL, " + violations.size() + " violations (exit 1)");
        return violations.isEmpty() ? 0 : 1;
      } finally {
        workerPool.shutdownNow();
      }
    }

    /** The client kinds in a seeded random order, in the documented proportions. */
    List<Kind> mix() {
      List<Kind> kinds = new ArrayList<>();
      int n = config.clients();
      for (Kind k : Kind.values()) {
        if (k != Kind.HAPPY) {
          for (int i = 0; i < n * k.percent / 100; i++) {
            kinds.add(k);
          }
        }
      }
      while (kinds.size() < n) {
        kinds.add(Kind.HAPPY);
      }
      Collections.shuffle(kinds, new Random(config.seed()));
      return kinds;
    }

    void violation(Kind kind, String message) {
      failures.get(kind).incrementAndGet();
      violations.add(message);
    }

    void report(
        int n,
        ChatClient.Reply statsA,
        ChatClient.Reply statsB,
        boolean drained,
        long liveAfterDrain,
        boolean poolEnded,
        long threadsLeft,
        long clientsNanos) {
      out.println();
      out.println("Clients                        n   final event received          result");
      int finalsOk = 0;
      for (Kind k : Kind.values()) {
        StringBuilder got = new StringBuilder();
        finals.get(k).forEach((status, c) -> got.append(status).append(" ×").append(c.get()).append("  "));
        int fails = failures.get(k).get();
        out.printf(
            Locale.ROOT, "  %-26s %4d   %-28s  %s%n",
            k.label, counts.get(k).get(), got.toString().strip(),
            fails == 0 ? "ok" : fails + " FAILED");
        finalsOk += counts.get(k).get() - fails;
      }
      if (cancelLostRace.get() > 0) {
        out.printf(
            "  (%d cancels arrived after the stream had completed: 409 with status completed, accepted)%n",
            cancelLostRace.get());
      }
      if (completedBeforeDisconnect.get() > 0) {
        out.printf(
            "  (%d streams had sent their whole answer before the client disconnected: completed, accepted)%n",
            completedBeforeDisconnect.get());
      }
      out.println();
      out.printf(
          Locale.ROOT, "Outcomes (GET /stats, A + B)   completed %d  cancelled %d  failed %d  timed out %d%n",
          sum(statsA, statsB, "completed"), sum(statsA, statsB, "cancelled"),
          sum(statsA, statsB, "failed"), sum(statsA, statsB, "timed_out"));

      long registry = sum(statsA, statsB, "running") + sum(statsA, statsB, "queued") + sum(statsA, statsB, "retained");
      long ended =
          sum(statsA, statsB, "completed") + sum(statsA, statsB, "cancelled")
              + sum(statsA, statsB, "failed") + sum(statsA, statsB, "timed_out");
      out.println("Invariants");
      check(finalsOk == n && violations.isEmpty(),
          String.format(Locale.ROOT, "every client got exactly one final event, the expected one   %d/%d", finalsOk, n));
      check(sum(statsA, statsB, "submitted") == n && ended == n,
          String.format(Locale.ROOT, "every submitted stream ended exactly once                    %d/%d",
              ended, sum(statsA, statsB, "submitted")));
      check(drained && registry == 0,
          String.format(Locale.ROOT, "0 streams left in the registry after retention (%d s)         %d",
              RETENTION.toSeconds(), registry));
      check(liveAfterDrain == 0 && poolEnded && threadsLeft == 0,
          String.format(Locale.ROOT, "0 live worker threads                                        %d",
              Math.max(liveAfterDrain, threadsLeft)));
      check(sum(statsA, statsB, "ignored_cancellation") == 0 && sum(statsA, statsB, "open_sse_responses") == 0,
          String.format(Locale.ROOT, "0 sources ignored cancellation, 0 SSE responses left open    %d, %d",
              sum(statsA, statsB, "ignored_cancellation"), sum(statsA, statsB, "open_sse_responses")));
      out.println();
      double seconds = clientsNanos / 1e9;
      out.printf(
          Locale.ROOT, "Throughput            %d tokens received by clients in %.2f s: %.0f tokens/s%n",
          tokensReceived.get(), seconds, tokensReceived.get() / seconds);
      out.printf(
          Locale.ROOT, "Time to first token   p50 %s  p99 %s  (submit → first token at the client, n=%d)%n",
          millis(percentile(ttftNanos, 50)), millis(percentile(ttftNanos, 99)), ttftNanos.size());
      out.printf(
          Locale.ROOT, "                      p50 %s  p99 %s  (source start → first token, from the info event)%n",
          millis(percentile(serverTtftNanos, 50)), millis(percentile(serverTtftNanos, 99)));
      out.printf(
          Locale.ROOT, "Cancel latency        p50 %s  p99 %s  (POST /cancel → final event on the open stream, n=%d)%n",
          millis(percentile(cancelLatencyNanos, 50)), millis(percentile(cancelLatencyNanos, 99)),
          cancelLatencyNanos.size());
      if (!violations.isEmpty()) {
        out.println();
        out.println("Violations (first 20):");
        synchronized (violations) {
          violations.stream().limit(20).forEach(v -> out.println("  - " + v));
        }
      }
    }

    void check(boolean ok, String what) {
      out.println("  [" + (ok ? "ok" : "FAIL") + "] " + what);
      if (!ok) {
        violations.add("invariant violated: " + what.replaceAll("\\s{2,}", " "));
      }
    }

    /** The live progress line. */
    final class Progress {
      final ChatServer a;
      final ChatServer b;
      final boolean console = isTerminal();
      long lastTokens;
      long lastNanos = System.nanoTime();
      long lastPrinted;
      String lastLine = "";

      Progress(ChatServer a, ChatServer b) {
        this.a = a;
        this.b = b;
      }

      synchronized void print() {
        long now = System.nanoTime();
        long tokens = tokensReceived.get();
        double rate = (tokens - lastTokens) / ((now - lastNanos) / 1e9);
        lastTokens = tokens;
        lastNanos = now;
        String line =
            String.format(
                Locale.ROOT,
                "streams running %4d | clients finished %4d/%d | %7.0f tokens/s | cancels %4d | SSE open %4d",
                a.manager().counters().running() + b.manager().counters().running(),
                finished.get(),
                config.clients(),
                rate,
                cancelCalls.get(),
                a.openStreams() + b.openStreams());
        if (console) {
          out.print("\r" + line);
          out.flush();
        } else if (!line.equals(lastLine)
            && (now - lastPrinted >= TimeUnit.SECONDS.toNanos(1) || finished.get() == config.clients())) {
          lastPrinted = now;
          lastLine = line;
          out.println(line);
        }
      }

      void end() {
        if (console) {
          out.println();
        }
      }
    }
  }

  /** One simulated user. */
  private static final class Client {
    final Run run;
    final Kind kind;
    final int index;
    final Random random;
    final ChatClient api;
    final String prompt;
    final List<String> expected;
    /** The stream completed before this client's cancel or disconnect reached it. */
    boolean cancelLost;

    Client(Run run, Kind kind, int index, Random random, ChatClient api) {
      this.run = run;
      this.kind = kind;
      this.index = index;
      this.random = random;
      this.api = api;
      this.prompt = "Question " + index + ": how does Sluice stop zombie writers?";
      this.expected = run.llm.answer(prompt);
    }

    void run() throws Exception {
      long t0 = System.nanoTime();
      ChatClient.Reply submitted = api.submit(prompt);
      require(submitted.status() == 202, "submit returned " + submitted.status() + " " + submitted.body());
      String id = submitted.text("request_id");
      List<String> tokens = new ArrayList<>();
      String status;
      switch (kind) {
        case HAPPY:
          status = read(id, null, tokens, -1, t0, null);
          break;
        case CANCEL_MID:
          status = read(id, null, tokens, 3 + random.nextInt(expected.size() / 6), t0, id);
          break;
        case CANCEL_BEFORE:
          run.cancelCalls.incrementAndGet();
          ChatClient.Reply cancelled = api.cancel(id);
          if (cancelled.status() == 409 && "completed".equals(cancelled.text("status"))) {
            cancelLost = true; // on a starved machine the whole answer can beat the cancel
            run.cancelLostRace.incrementAndGet();
          } else {
            require(cancelled.status() == 200, "cancel before reading returned " + cancelled.status());
          }
          status = read(id, null, tokens, -1, -1, null);
          break;
        case DISCONNECT:
        case RESUME:
          int k = 2 + random.nextInt(expected.size() / 6);
          String early = read(id, null, tokens, k, t0, null);
          require(early == null, "stream ended before the disconnect: " + early);
          if (kind == Kind.RESUME) {
            Thread.sleep(20 + random.nextInt(100));
          }
          status = readAgain(id, tokens);
          if (kind == Kind.DISCONNECT && "completed".equals(status)) {
            // The server had written the whole answer before the client left, so no write failed:
            // legitimate, and checked below to be the full answer. Counted in the report.
            cancelLost = true;
            run.completedBeforeDisconnect.incrementAndGet();
          }
          break;
        default:
          throw new IllegalStateException("kind " + kind);
      }
      // No lost, duplicated or reordered token: a full answer exactly, or a prefix of it.
      String expectedStatus = cancelLost ? "completed" : kind.expected;
      require(expectedStatus.equals(status), "final status " + status + ", expected " + expectedStatus);
      if ("completed".equals(status)) {
        require(tokens.equals(expected), "answer differs from the model's: " + tokens.size() + " tokens");
      } else {
        require(tokens.size() <= expected.size() && tokens.equals(expected.subList(0, tokens.size())),
            "tokens are not a prefix of the answer");
      }
      run.finals.get(kind).computeIfAbsent(status, s -> new AtomicInteger()).incrementAndGet();
    }

    /**
     * Reads a stream, appending tokens. If {@code stopAfter} >= 0: after that many tokens either
     * disconnect (cancelId null: returns null) or cancel and keep reading to the final event.
     *
     * @return the final status, or null after a disconnect
     */
    @Nullable String read(
        String id, @Nullable Long lastEventId, List<String> tokens, int stopAfter, long t0, @Nullable String cancelId)
        throws Exception {
      ChatClient.Stream s = api.stream(id, lastEventId);
      run.open.add(s);
      try {
        require(s.status() == 200, "stream returned " + s.status() + " " + (s.status() == 200 ? "" : s.errorBody()));
        String status = null;
        int finals = 0;
        long cancelSent = -1;
        for (ChatClient.Event e = s.next(); e != null; e = s.next()) {
          if (e.type().equals("token")) {
            require(finals == 0, "token after the final event");
            require(e.id() == tokens.size() + 1, "token id " + e.id() + " after " + tokens.size() + " tokens");
            tokens.add(e.payload().asText());
            run.tokensReceived.incrementAndGet();
            if (tokens.size() == 1 && t0 >= 0) {
              run.ttftNanos.add(System.nanoTime() - t0);
            }
            if (tokens.size() == stopAfter) {
              if (cancelId == null) {
                s.close(); // abrupt: no more reads on this connection
                return null;
              }
              cancelSent = System.nanoTime();
              run.cancelCalls.incrementAndGet();
              ChatClient.Reply r = api.cancel(cancelId);
              if (r.status() == 409 && "completed".equals(r.text("status"))) {
                cancelLost = true;
                run.cancelLostRace.incrementAndGet();
              } else {
                require(r.status() == 200, "cancel returned " + r.status() + " " + r.body());
              }
            }
          } else if (e.type().equals("info") && e.payload().has("timeToFirstToken")) {
            run.serverTtftNanos.add((long) (e.payload().path("timeToFirstToken").asDouble() * 1e9));
          } else if (e.isFinal()) {
            finals++;
            status = e.status();
            if (cancelSent >= 0) {
              run.cancelLatencyNanos.add(System.nanoTime() - cancelSent);
            }
          }
        }
        require(finals == 1, "got " + finals + " final events");
        return status;
      } finally {
        run.open.remove(s);
        s.close();
      }
    }

    /** After a disconnect: reads the rest with Last-Event-ID; 409 (old reader still attached) is retried. */
    @Nullable String readAgain(String id, List<String> tokens) throws Exception {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (true) {
        try {
          return read(id, (long) tokens.size(), tokens, -1, -1, null);
        } catch (IllegalStateException e) {
          if (!e.getMessage().startsWith("stream returned 409") || System.nanoTime() > deadline) {
            throw e;
          }
          Thread.sleep(20);
        }
      }
    }

    private static void require(boolean condition, String message) {
      if (!condition) {
        throw new IllegalStateException(message);
      }
    }
  }

  // ------------------------------------------------------------------ helpers

  /** Whether stdout is a terminal, where the progress line can redraw itself with a carriage return. */
  private static boolean isTerminal() {
    java.io.Console console = System.console();
    if (console == null) {
      return false;
    }
    try { // JDK 22+ may return a console for redirected output; isTerminal() tells
      return (boolean) java.io.Console.class.getMethod("isTerminal").invoke(console);
    } catch (ReflectiveOperationException jdk17) {
      return true;
    }
  }

  private static boolean idle(ChatServer s) {
    return s.manager().counters().running() == 0 && s.manager().counters().queued() == 0 && s.openStreams() == 0;
  }

  private static long retained(ChatServer s) {
    return s.manager().counters().retained();
  }

  private static boolean await(Duration timeout, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(20);
    }
    return true;
  }

  private static long sum(ChatClient.Reply a, ChatClient.Reply b, String field) {
    return a.body().path(field).asLong(-1_000_000) + b.body().path(field).asLong(-1_000_000);
  }

  private static long threadsNamed(String prefix) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && t.getName().startsWith(prefix))
        .count();
  }

  private static long percentile(List<Long> values, int p) {
    List<Long> sorted;
    synchronized (values) {
      sorted = new ArrayList<>(values);
    }
    if (sorted.isEmpty()) {
      return -1;
    }
    Collections.sort(sorted);
    int i = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
  }

  private static String millis(long nanos) {
    return nanos < 0 ? "n/a" : String.format(Locale.ROOT, "%.1f ms", nanos / 1e6);
  }

  private static java.util.concurrent.ThreadFactory daemon(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
