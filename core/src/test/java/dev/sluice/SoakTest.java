package dev.sluice;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.sluice.StreamOutcome.Status;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

/**
 * The leak detector: randomized stream lifecycles on one manager, in real time, then a check that
 * nothing is left behind.
 *
 * <p>Every lifecycle kind of {@link Kind} runs many times, concurrently: complete, fail, throw an
 * Error, cancel before and after the first token, cancel racing completion, reader detaching and
 * re-attaching with resume (the manager is {@link DetachPolicy#KEEP_RUNNING}), reader detaching for
 * good, slow readers, no reader at all, first-token / idle / overall-deadline timeouts, sources
 * that ignore cancellation for a while or swallow the cancellation exception, fan-out to two readers,
 * {@code Flow.Publisher} subscribers (reading to the end or cancelled), and a reader cut off by the
 * slow-reader timeout. A few sources are
 * stuck on purpose: they ignore cancellation until the very end, and the manager must report them.
 * Each stream's outcome and events are checked as it ends.
 *
 * <p>At the end: 0 registry entries once retention has passed, no worker running a source beyond
 * the stuck set, the counters add up (submitted = completed + cancelled + failed + timed out) and
 * match what the clients observed, and the heap after GC is back within a small margin of the start.
 * A one-screen report is printed; any leak fails the test.
 *
 * <p>{@code mvn verify} runs 100,000 lifecycles. The long soak (1,000,000) runs with {@code mvn -B
 * -pl core verify -Psoak}; system properties {@code sluice.soak.lifecycles}, {@code
 * sluice.soak.seconds} (time bound for submitting) and {@code sluice.soak.heapMarginMb} tune it.
 */
class SoakTest {

  static final int LIFECYCLES = Integer.getInteger("sluice.soak.lifecycles", 100_000);
  static final int SECONDS = Integer.getInteger("sluice.soak.seconds", 50);
  static final long HEAP_MARGIN = Long.getLong("sluice.soak.heapMarginMb", 16) << 20;
  static final int CLIENTS = 8;
  static final int IN_FLIGHT = 320;
  static final int MAX_RUNNING = 400; // > IN_FLIGHT + STUCK: nothing waits in the queue
  static final int STUCK = 3;
  static final int WARMUP = 3_000;

  // The no-reader timeout is the shortest, so that it is the one that ends a blocked stream nobody
  // reads; the kinds meant for the other timeouts keep a reader attached (the drainer).
  // On a loaded machine a client thread can stall for a while between two calls: a lifecycle that
  // a timeout ends although it was not meant to is counted as a stall (and tolerated up to
  // MAX_STALLS), as long as what its reader saw is consistent.
  static final Duration NO_READER = Duration.ofMillis(500);
  static final Duration FIRST_TOKEN = Duration.ofMillis(800);
  static final Duration IDLE = Duration.ofMillis(800);
  static final Duration DEADLINE = Duration.ofSeconds(2);
  static final Duration SLOW_READER = Duration.ofMillis(300);
  // Retention longer than the stop timeout: see FaultInjectionTest's
  // ignoredCancellation_reportedEvenWhenRetentionIsShorterThanTheStopTimeout.
  static final Duration STOP = Duration.ofSeconds(1);
  static final Duration RETENTION = Duration.ofMillis(1_500);
  static final int BUFFER = 16;

  /** The lifecycle kinds and their weights (per mille). */
  enum Kind {
    COMPLETE(150),
    FAIL(80),
    THROW_ERROR(30),
    RETURN_WITHOUT_SENDING(30),
    CANCEL_BEFORE_FIRST_TOKEN(80),
    CANCEL_AFTER_FIRST_TOKEN(80),
    CANCEL_RACING_COMPLETION(120),
    DETACH_AND_RESUME(100),
    DETACH_FOR_GOOD(6),
    SLOW_READER(60),
    NO_READER_COMPLETES(80),
    NO_READER_BLOCKS(6),
    FIRST_TOKEN_TIMEOUT(8),
    IDLE_TIMEOUT(8),
    DEADLINE(3),
    IGNORES_CANCEL_FOR_A_WHILE(60),
    SWALLOWS_CANCELLATION(60),
    FAN_OUT(20),
    PUBLISHER(20),
    SLOW_READER_CUT_OFF(1);

    final int weight;

    Kind(int weight) {
      this.weight = weight;
    }
  }

  private static final Kind[] TABLE = table();

  private static Kind[] table() {
    List<Kind> t = new ArrayList<>();
    for (Kind k : Kind.values()) {
      for (int i = 0; i < k.weight; i++) {
        t.add(k);
      }
    }
    return t.toArray(new Kind[0]);
  }

  private final ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
  private final AtomicInteger problemCount = new AtomicInteger();
  private final AtomicLongArray byKind = new AtomicLongArray(Kind.values().length);
  private final AtomicLongArray seenByStatus = new AtomicLongArray(Status.values().length);
  private final AtomicLong timedOutByDeadline = new AtomicLong();
  private final AtomicLong stalls = new AtomicLong();
  private final Semaphore inFlight = new Semaphore(IN_FLIGHT);
  private final Drainer drainer = new Drainer();
  private StreamManager manager;
  private long stuckSlotsHeld = -1;
  private int deliveriesLeft = -1;

  @Test
  void soak_randomLifecycles_leaveNoLeak_andCountersAddUp() {
    assertTimeoutPreemptively(Duration.ofSeconds(SECONDS + 90L), this::soak);
  }

  private void soak() throws Exception {
    manager =
        StreamManager.builder()
            .maxRunning(MAX_RUNNING)
            .queueCapacity(4 * IN_FLIGHT)
            .bufferSize(BUFFER)
            .replayWindow(BUFFER)
            .firstTokenTimeout(FIRST_TOKEN)
            .idleTimeout(IDLE)
            .deadline(DEADLINE)
            .noReaderTimeout(NO_READER)
            .retention(RETENTION)
            .stopTimeout(STOP)
            .removeOnDelivery(true)
            .detachPolicy(DetachPolicy.KEEP_RUNNING)
            .slowReaderTimeout(SLOW_READER)
            .slowReaderPolicy(SlowReaderPolicy.DETACH)
            .executor(soakWorkers())
            .build();
    DefaultStreamManager m = (DefaultStreamManager) manager;
    Thread drain = new Thread(drainer, "soak-drainer");
    drain.setDaemon(true);
    drain.start();
    ExecutorService clients = Executors.newFixedThreadPool(CLIENTS, r -> new Thread(r, "soak-client"));
    try {
      // Warm up (JIT, worker threads, class loading), then settle and take the heap baseline.
      run(clients, WARMUP, 1L, System.nanoTime() + TimeUnit.SECONDS.toNanos(SECONDS));
      awaitQuiet(m);
      long heapBefore = usedHeapAfterGc();

      // The stuck set: sources that ignore cancellation until the end. The manager must report them.
      CountDownLatch release = new CountDownLatch(1);
      CountDownLatch stuckStarted = new CountDownLatch(STUCK);
      List<StreamHandle> stuck = new ArrayList<>();
      for (int i = 0; i < STUCK; i++) {
        stuck.add(manager.submit(stubborn(stuckStarted, release)));
      }
      assertThat(stuckStarted.await(10, TimeUnit.SECONDS)).isTrue();
      stuck.forEach(StreamHandle::cancel);

      long start = System.nanoTime();
      long deadline = start + TimeUnit.SECONDS.toNanos(SECONDS);
      int done = run(clients, LIFECYCLES, 2L, deadline);
      long runNanos = System.nanoTime() - start;

      awaitQuiet(m);
      StreamCounters c = manager.counters();
      int busyWorkers = workersRunningASource();
      int deliveries = threadsInside(StreamPublisher.class.getName());
      deliveriesLeft = deliveries;
      long heapAfter = usedHeapAfterGc();
      int registry = m.registrySize();

      // The stuck set is still there, reported, and holds exactly its own slots.
      long reportedStuck = c.ignoredCancellation();
      long slotsHeld = c.running();
      stuckSlotsHeld = slotsHeld;
      release.countDown();
      assertThat(m.awaitIdle(10, TimeUnit.SECONDS)).as("stuck set returns once released").isTrue();
      for (StreamHandle h : stuck) {
        assertThat(TestStreams.outcome(h).status()).isEqualTo(Status.CANCELLED);
      }
      awaitRegistryEmpty(m);
      StreamCounters end = manager.counters();

      String report = report(done, runNanos, end, busyWorkers, registry, heapBefore, heapAfter);
      System.out.println(report);

      assertThat(reportedStuck).as("stuck sources reported").isEqualTo(STUCK);
      assertThat(slotsHeld).as("slots held after the run: only the stuck set").isEqualTo(STUCK);
      assertThat(problems).as("%d lifecycle problems, first ones", problemCount.get()).isEmpty();
      assertThat(done).as("lifecycles run before the time bound").isGreaterThan(0);
      assertThat(registry).as("registry entries after retention").isZero();
      assertThat(m.registrySize()).as("registry after the stuck set returned").isZero();
      assertThat(busyWorkers).as("worker threads inside a source").isLessThanOrEqualTo(STUCK);
      assertThat(deliveries).as("threads delivering to a Flow subscriber").isZero();
      assertThat(end.running()).isZero();
      assertThat(end.queued()).isZero();
      assertThat(end.retained()).isZero();
      assertThat(end.submitted()).as("submitted = ended").isEqualTo(end.ended());
      assertThat(end.submitted()).isEqualTo(WARMUP + (long) done + STUCK);
      assertThat(end.ignoredCancellation()).as("only the stuck set ignored cancellation").isEqualTo(STUCK);
      assertThat(end.completed()).isEqualTo(seenByStatus.get(Status.COMPLETED.ordinal()));
      assertThat(end.cancelled()).isEqualTo(seenByStatus.get(Status.CANCELLED.ordinal()) + STUCK);
      assertThat(end.failed()).isEqualTo(seenByStatus.get(Status.FAILED.ordinal()));
      assertThat(end.timedOut()).isEqualTo(seenByStatus.get(Status.TIMED_OUT.ordinal()));
      assertThat(end.rejected()).isZero();
      assertThat(timedOutByDeadline.get()).as("deadline timeouts seen").isPositive();
      assertThat(stalls.get()).as("lifecycles a timeout ended while their client stalled").isLessThanOrEqualTo(1 + done / 1_000);
      assertThat(heapAfter - heapBefore).as("heap growth after GC, bytes").isLessThan(HEAP_MARGIN);
    } finally {
      clients.shutdownNow();
      drainer.stop = true;
      manager.close();
    }
    assertThat(manager.counters().running()).isZero();
    assertThat(workersRunningASource()).as("worker threads inside a source after close").isZero();
  }

  /** Runs {@code n} lifecycles from the client threads; returns how many ran before the deadline. */
  private int run(ExecutorService clients, int n, long seedBase, long deadline) throws Exception {
    AtomicInteger next = new AtomicInteger();
    List<Future<?>> futures = new ArrayList<>();
    for (int c = 0; c < CLIENTS; c++) {
      long seed = seedBase * 1_000 + c;
      futures.add(
          clients.submit(
              () -> {
                SplittableRandom rnd = new SplittableRandom(seed);
                while (next.getAndIncrement() < n && System.nanoTime() < deadline) {
                  lifecycle(rnd);
                }
                return null;
              }));
    }
    for (Future<?> f : futures) {
      f.get(SECONDS + 60L, TimeUnit.SECONDS);
    }
    // Wait for the asynchronous ones (no reader, timeouts) to end.
    assertThat(inFlight.tryAcquire(IN_FLIGHT, 30, TimeUnit.SECONDS)).as("all lifecycles ended").isTrue();
    inFlight.release(IN_FLIGHT);
    return Math.min(n, next.get());
  }

  // ------------------------------------------------------------------ one lifecycle

  private void lifecycle(SplittableRandom rnd) throws Exception {
    Kind kind = TABLE[rnd.nextInt(TABLE.length)];
    byKind.incrementAndGet(kind.ordinal());
    inFlight.acquire();
    int n = 1 + rnd.nextInt(12);
    StreamHandle h;
    switch (kind) {
      case COMPLETE -> {
        h = submit(kind, TestStreams.counting(n));
        expect(kind, h, read(h, h.attach(), 0, -1, 0), Status.COMPLETED, n);
      }
      case FAIL -> {
        int failAt = rnd.nextInt(n + 1); // after failAt tokens
        h = submit(kind, failing(n, failAt, false));
        List<StreamEvent> events = read(h, h.attach(), 0, -1, 0);
        StreamOutcome o = expect(kind, h, events, Status.FAILED, failAt);
        check(kind, o, o.status() != Status.FAILED || o.cause() instanceof IllegalStateException, "cause");
      }
      case THROW_ERROR -> {
        int failAt = rnd.nextInt(n + 1);
        h = submit(kind, failing(n, failAt, true));
        StreamOutcome o = expect(kind, h, read(h, h.attach(), 0, -1, 0), Status.FAILED, failAt);
        check(kind, o, o.status() != Status.FAILED || o.cause() instanceof SoakError, "cause");
      }
      case RETURN_WITHOUT_SENDING -> {
        h = submit(kind, sink -> {});
        expect(kind, h, read(h, h.attach(), 0, -1, 0), Status.COMPLETED, 0);
      }
      case CANCEL_BEFORE_FIRST_TOKEN -> {
        h = submit(kind, waitsThenSends(n));
        boolean won = h.cancel();
        check(kind, h, won || h.state() == StreamHandle.State.DONE, "cancel() won");
        expect(kind, h, read(h, h.attach(), 0, -1, 0), Status.CANCELLED, 0);
      }
      case CANCEL_AFTER_FIRST_TOKEN -> {
        h = submit(kind, TestStreams.counting(Integer.MAX_VALUE));
        int after = 1 + rnd.nextInt(2 * BUFFER);
        List<StreamEvent> events = read(h, h.attach(), 0, after, 0);
        StreamOutcome o = expect(kind, h, events, Status.CANCELLED, -1);
        check(kind, o, o.tokens() >= after || o.status() == Status.TIMED_OUT, "tokens >= " + after);
      }
      case CANCEL_RACING_COMPLETION -> {
        h = submit(kind, TestStreams.counting(n));
        for (int spins = rnd.nextInt(3_000); spins > 0; spins--) {
          Thread.onSpinWait();
        }
        boolean won = h.cancel();
        List<StreamEvent> events = read(h, h.attach(), 0, -1, 0);
        expect(kind, h, events, won ? Status.CANCELLED : Status.COMPLETED, won ? -1 : n);
      }
      case DETACH_AND_RESUME -> {
        int total = n + rnd.nextInt(3 * BUFFER); // often more than the buffer: blocks while detached
        h = submit(kind, TestStreams.counting(total));
        StreamReader first = h.attach();
        List<StreamEvent> events = new ArrayList<>();
        int before = rnd.nextInt(total + 1);
        while (events.size() < before) {
          StreamEvent e = first.poll(Duration.ofSeconds(5));
          if (e instanceof StreamEvent.Terminal t && t.status() == Status.TIMED_OUT) {
            stalls.incrementAndGet(); // a timeout beat a stalled client
            first.close();
            return;
          }
          if (e == null || e instanceof StreamEvent.Terminal) {
            problem(kind, h, "no token " + (events.size() + 1) + " before detaching: " + e);
            break;
          }
          events.add(e);
        }
        long last = first.lastSequence();
        first.close();
        if (rnd.nextBoolean()) {
          LockSupport.parkNanos(rnd.nextInt(200_000));
        }
        events.addAll(read(h, h.attach(last), last, -1, 0));
        expect(kind, h, events, Status.COMPLETED, total);
      }
      case DETACH_FOR_GOOD -> {
        int total = BUFFER * 3;
        h = submit(kind, TestStreams.counting(total));
        StreamReader r = h.attach();
        r.poll(Duration.ofSeconds(5));
        r.close();
        // Blocks on the full buffer with nobody attached: the no-reader timeout ends it.
        async(kind, h, Status.TIMED_OUT, "no reader");
      }
      case SLOW_READER -> {
        int total = n + BUFFER * 2;
        h = submit(kind, TestStreams.counting(total));
        expect(kind, h, read(h, h.attach(), 0, -1, 20_000 + rnd.nextInt(100_000)), Status.COMPLETED, total);
      }
      case NO_READER_COMPLETES -> {
        h = submit(kind, TestStreams.counting(Math.min(n, BUFFER)));
        async(kind, h, Status.COMPLETED, null); // retention evicts it, unread
      }
      case NO_READER_BLOCKS -> {
        h = submit(kind, TestStreams.counting(BUFFER + n));
        async(kind, h, Status.TIMED_OUT, "no reader");
      }
      case FIRST_TOKEN_TIMEOUT -> {
        h = submit(kind, sink -> Thread.sleep(60_000));
        drainer.add(new Drain(kind, h, h.attach(), "no first token"));
      }
      case IDLE_TIMEOUT -> {
        h =
            submit(
                kind,
                sink -> {
                  sink.send("t1");
                  Thread.sleep(60_000);
                });
        drainer.add(new Drain(kind, h, h.attach(), "idle"));
      }
      case DEADLINE -> {
        // Tokens every 5 ms, read as they come, so only the overall deadline can end it.
        h =
            submit(
                kind,
                sink -> {
                  for (int i = 1; ; i++) {
                    sink.send("t" + i);
                    Thread.sleep(5);
                  }
                });
        drainer.add(new Drain(kind, h, h.attach(), "deadline"));
      }
      case IGNORES_CANCEL_FOR_A_WHILE -> {
        long ignoreNanos = TimeUnit.MILLISECONDS.toNanos(1 + rnd.nextInt(20));
        h = submit(kind, ignoresCancellation(ignoreNanos));
        List<StreamEvent> events = read(h, h.attach(), 0, 1 + rnd.nextInt(BUFFER), 0);
        expect(kind, h, events, Status.CANCELLED, -1);
      }
      case SWALLOWS_CANCELLATION -> {
        h = submit(kind, swallowsCancellation());
        List<StreamEvent> events = read(h, h.attach(), 0, 1 + rnd.nextInt(BUFFER), 0);
        expect(kind, h, events, Status.CANCELLED, -1);
      }
      case FAN_OUT -> {
        // Two readers of one stream: one on this thread, one on the drainer; both get everything.
        int total = n + BUFFER * 2;
        h = submit(kind, TestStreams.counting(total));
        StreamReader mine = h.attach();
        drainer.add(new Drain(kind, h, h.attach(), Status.COMPLETED, null, total));
        expect(kind, h, read(h, mine, 0, -1, 0), Status.COMPLETED, total);
      }
      case PUBLISHER -> {
        int total = n + BUFFER;
        boolean cancel = rnd.nextBoolean();
        h = submit(kind, cancel ? TestStreams.counting(Integer.MAX_VALUE) : TestStreams.counting(total));
        SoakSubscriber sub = new SoakSubscriber(rnd.nextBoolean() ? Long.MAX_VALUE : 1 + rnd.nextInt(4));
        h.publisher().subscribe(sub);
        if (cancel) {
          sub.firstToken.await(10, TimeUnit.SECONDS);
          h.cancel();
        }
        String wrong = sub.await(cancel ? Status.CANCELLED : Status.COMPLETED, cancel ? -1 : total);
        if (wrong != null) {
          if (wrong.startsWith("TIMED_OUT")) {
            stalls.incrementAndGet();
          } else {
            problem(kind, h, wrong);
          }
        }
      }
      case SLOW_READER_CUT_OFF -> {
        // A reader that stops reading holds the producer back; after the slow-reader timeout it is
        // cut off (Detached, last) and the other reader gets the whole stream.
        int total = BUFFER * 3;
        h = submit(kind, TestStreams.counting(total));
        StreamReader laggard = h.attach();
        StreamReader fast = h.attach();
        StreamEvent first = laggard.poll(Duration.ofSeconds(10));
        expect(kind, h, read(h, fast, 0, -1, 0), Status.COMPLETED, total);
        List<StreamEvent> rest = new ArrayList<>();
        try (laggard) {
          while (!laggard.isFinished()) {
            rest.add(laggard.poll(Duration.ofSeconds(10)));
          }
        }
        StreamEvent last = rest.isEmpty() ? first : rest.get(rest.size() - 1);
        check(kind, h, last instanceof StreamEvent.Detached, "the laggard cut off, got " + last);
      }
      default -> throw new IllegalStateException("kind " + kind);
    }
  }

  /** A Flow subscriber that checks order and a single end signal; requests {@code batch} at a time. */
  private static final class SoakSubscriber implements java.util.concurrent.Flow.Subscriber<StreamEvent> {
    final long batch;
    final CountDownLatch firstToken = new CountDownLatch(1);
    final java.util.concurrent.CompletableFuture<StreamOutcome> end = new java.util.concurrent.CompletableFuture<>();
    java.util.concurrent.Flow.Subscription subscription;
    long expected = 1;
    long inBatch;
    volatile String error;

    SoakSubscriber(long batch) {
      this.batch = batch;
    }

    @Override
    public void onSubscribe(java.util.concurrent.Flow.Subscription s) {
      subscription = s;
      s.request(batch);
    }

    @Override
    public void onNext(StreamEvent e) {
      if (!(e instanceof StreamEvent.Token t) || t.sequence() != expected || !t.text().equals("t" + expected)) {
        error = "unexpected onNext " + e + ", expected token " + expected;
      }
      expected++;
      firstToken.countDown();
      if (batch != Long.MAX_VALUE && ++inBatch == batch) {
        inBatch = 0;
        subscription.request(batch);
      }
    }

    @Override
    public void onError(Throwable t) {
      if (t instanceof StreamEndedException ended && ended.outcome().isPresent()) {
        if (!end.complete(ended.outcome().get())) {
          error = "a second end signal: " + t;
        }
      } else if (t instanceof StreamEndedException ended) {
        end.complete(new StreamOutcome(Status.TIMED_OUT, expected - 1, "detached: " + ended.lastEvent(), null));
      } else {
        error = "unexpected onError " + t;
        end.complete(new StreamOutcome(Status.FAILED, 0, String.valueOf(t), t));
      }
      firstToken.countDown();
    }

    @Override
    public void onComplete() {
      if (!end.complete(new StreamOutcome(Status.COMPLETED, expected - 1, null, null))) {
        error = "a second end signal: onComplete";
      }
      firstToken.countDown();
    }

    /** Null if the subscriber saw {@code status} (with {@code tokens} tokens if >= 0), else what it saw. */
    String await(Status status, long tokens) throws Exception {
      StreamOutcome o = end.get(10, TimeUnit.SECONDS);
      if (error != null) {
        return error;
      }
      if (o.status() != status || (tokens >= 0 && (o.tokens() != tokens || expected - 1 != tokens))) {
        return o.status() + ": expected " + status + " with " + tokens + " tokens, got " + o + " after " + (expected - 1);
      }
      return null;
    }
  }

  private StreamHandle submit(Kind kind, TokenSource source) {
    StreamHandle h;
    try {
      h = manager.submit(source);
    } catch (RuntimeException e) {
      inFlight.release();
      throw e;
    }
    h.outcome()
        .whenComplete(
            (o, e) -> {
              if (o != null) {
                seenByStatus.incrementAndGet(o.status().ordinal());
                if (o.status() == Status.TIMED_OUT && String.valueOf(o.message()).contains("deadline")) {
                  timedOutByDeadline.incrementAndGet();
                }
              } else {
                problem(kind, h, "outcome failed: " + e);
              }
              inFlight.release();
            });
    return h;
  }

  /** Checks the outcome asynchronously: for streams nobody waits for. */
  private void async(Kind kind, StreamHandle h, Status status, String messagePart) {
    h.outcome()
        .whenComplete(
            (o, e) -> {
              if (o == null || o.status() != status
                  || (messagePart != null && !String.valueOf(o.message()).contains(messagePart))) {
                problem(kind, h, "expected " + status + " (" + messagePart + "), got " + o);
              }
            });
  }

  /** Reads until the terminal, cancelling after {@code cancelAfter} tokens (if >= 0). */
  private static List<StreamEvent> read(
      StreamHandle h, StreamReader r, long from, int cancelAfter, int pauseNanos) throws InterruptedException {
    List<StreamEvent> events = new ArrayList<>();
    try (r) {
      int tokens = 0;
      while (!r.isFinished()) {
        StreamEvent e = r.poll(Duration.ofSeconds(10));
        if (e == null) {
          throw new AssertionError("no event within 10 s after " + from + " + " + events.size());
        }
        events.add(e);
        if (e instanceof StreamEvent.Token && ++tokens == cancelAfter) {
          h.cancel();
        }
        if (pauseNanos > 0) {
          LockSupport.parkNanos(pauseNanos);
        }
      }
    }
    return events;
  }

  /**
   * Checks what a reader got: tokens "t1".."tk" with sequence numbers 1..k, then one terminal, the
   * same object as the outcome; status and, if {@code tokens >= 0}, the token count.
   */
  private StreamOutcome expect(Kind kind, StreamHandle h, List<StreamEvent> events, Status status, long tokens)
      throws Exception {
    StreamOutcome o = TestStreams.outcome(h);
    if (!events.isEmpty() && events.get(events.size() - 1) instanceof StreamEvent.Detached) {
      stalls.incrementAndGet(); // the client stalled for the slow-reader timeout and was cut off
      return o;
    }
    boolean ok = !events.isEmpty() && events.get(events.size() - 1) instanceof StreamEvent.Terminal;
    for (int i = 0; ok && i < events.size() - 1; i++) {
      StreamEvent e = events.get(i);
      ok = e instanceof StreamEvent.Token t && t.sequence() == i + 1 && t.text().equals("t" + (i + 1));
    }
    if (!ok) {
      problem(kind, h, "events out of order or missing: " + abbreviate(events));
      return o;
    }
    StreamEvent.Terminal end = (StreamEvent.Terminal) events.get(events.size() - 1);
    if (o.status() == Status.TIMED_OUT && status != Status.TIMED_OUT && end.outcome() == o
        && end.sequence() == events.size()) {
      stalls.incrementAndGet(); // consistent, but a timeout beat the client: see NO_READER
      return o;
    }
    if (end.outcome() != o
        || end.sequence() != o.tokens() + 1
        || end.sequence() != events.size()
        || o.status() != status
        || (tokens >= 0 && o.tokens() != tokens)) {
      problem(kind, h, "expected " + status + " with " + tokens + " tokens, got " + o + " after " + events.size() + " events");
    }
    StreamHandle.State state = status == Status.CANCELLED ? StreamHandle.State.CANCELLED : StreamHandle.State.DONE;
    check(kind, h, h.state() == state, "state " + state);
    return o;
  }

  private void check(Kind kind, Object what, boolean ok, String expectation) {
    if (!ok) {
      problem(kind, what, "expected " + expectation);
    }
  }

  private void problem(Kind kind, Object what, String message) {
    if (problemCount.incrementAndGet() <= 10) {
      problems.add(kind + " " + what + ": " + message);
    }
  }

  private static String abbreviate(List<StreamEvent> events) {
    String s = events.toString();
    return s.length() < 400 ? s : s.substring(0, 400) + "...";
  }

  // ------------------------------------------------------------------ sources

  /** Sends {@code failAt} tokens of {@code n}, then throws (an Error if {@code error}). */
  private static TokenSource failing(int n, int failAt, boolean error) {
    return sink -> {
      for (int i = 1; i <= n; i++) {
        if (i == failAt + 1) {
          break;
        }
        sink.send("t" + i);
      }
      if (error) {
        throw new SoakError("error after " + failAt);
      }
      throw new IllegalStateException("boom after " + failAt);
    };
  }

  /** Waits for cancellation (released by its hook), then tries to send. */
  private static TokenSource waitsThenSends(int n) {
    return sink -> {
      CountDownLatch go = new CountDownLatch(1);
      sink.onCancel(go::countDown);
      go.await(10, TimeUnit.SECONDS);
      for (int i = 1; i <= n; i++) {
        sink.send("t" + i);
      }
    };
  }

  /** Sends until refused; then ignores interrupts for {@code nanos} before returning. */
  private static TokenSource ignoresCancellation(long nanos) {
    return sink -> {
      try {
        for (int i = 1; ; i++) {
          sink.send("t" + i);
        }
      } catch (StreamCancelledException e) {
        long until = System.nanoTime() + nanos;
        while (System.nanoTime() < until) {
          try {
            Thread.sleep(1);
          } catch (InterruptedException ignored) {
            // stubborn for a while
          }
        }
      }
    };
  }

  /** Catches the cancellation exception and keeps sending a few more times, then gives up. */
  private static TokenSource swallowsCancellation() {
    return sink -> {
      int refused = 0;
      for (int i = 1; refused < 5; i++) {
        try {
          sink.send("t" + i);
        } catch (StreamCancelledException e) {
          refused++;
          i--;
        }
      }
    };
  }

  /** Ignores cancellation and interrupts until {@code release}. */
  private static TokenSource stubborn(CountDownLatch started, CountDownLatch release) {
    return sink -> {
      started.countDown();
      while (true) {
        try {
          if (release.await(1, TimeUnit.SECONDS)) {
            return;
          }
        } catch (InterruptedException ignored) {
          // stuck on purpose
        }
      }
    };
  }

  /** Thrown by THROW_ERROR sources: an Error, not an Exception. */
  static final class SoakError extends Error {
    private static final long serialVersionUID = 1L;

    SoakError(String message) {
      super(message);
    }
  }

  // ------------------------------------------------------------------ the drainer

  private record Drain(Kind kind, StreamHandle handle, StreamReader reader, Status status, String message, long tokens) {
    Drain(Kind kind, StreamHandle handle, StreamReader reader, String timeout) {
      this(kind, handle, reader, Status.TIMED_OUT, timeout, -1);
    }
  }

  /**
   * One thread reading many slow streams without blocking on any: the reader of the kinds that end
   * by a timeout other than the no-reader one. Expects TIMED_OUT naming {@code timeout}.
   */
  private final class Drainer implements Runnable {
    final ConcurrentLinkedQueue<Drain> incoming = new ConcurrentLinkedQueue<>();
    volatile boolean stop;

    void add(Drain d) {
      incoming.add(d);
    }

    @Override
    public void run() {
      List<Drain> open = new ArrayList<>();
      Map<Drain, Long> expected = new java.util.HashMap<>();
      while (!stop) {
        for (Drain d; (d = incoming.poll()) != null; ) {
          open.add(d);
          expected.put(d, 1L);
        }
        boolean progress = false;
        for (Iterator<Drain> it = open.iterator(); it.hasNext(); ) {
          Drain d = it.next();
          try {
            for (StreamEvent e; (e = d.reader.poll(Duration.ZERO)) != null; ) {
              progress = true;
              long seq = expected.merge(d, 1L, Long::sum) - 1;
              if (e.sequence() != seq) {
                problem(d.kind, d.handle, "sequence " + e.sequence() + ", expected " + seq);
              }
              if (e instanceof StreamEvent.Detached) {
                stalls.incrementAndGet(); // the drainer itself fell behind for the slow-reader timeout
                d.reader.close();
                it.remove();
                expected.remove(d);
                break;
              }
              if (e instanceof StreamEvent.Terminal t) {
                if (t.status() == Status.TIMED_OUT && d.status != Status.TIMED_OUT) {
                  stalls.incrementAndGet();
                } else if (t.status() != d.status
                    || (d.message != null && !String.valueOf(t.outcome().message()).contains(d.message))
                    || (d.tokens >= 0 && t.outcome().tokens() != d.tokens)) {
                  problem(d.kind, d.handle, "expected " + d.status + " " + d.message + " " + d.tokens + ", got " + t.outcome());
                }
                d.reader.close();
                it.remove();
                expected.remove(d);
                break;
              }
            }
          } catch (InterruptedException e) {
            return;
          } catch (RuntimeException e) {
            problem(d.kind, d.handle, "reader threw " + e);
            d.reader.close();
            it.remove();
          }
        }
        if (!progress) {
          LockSupport.parkNanos(1_000_000);
        }
      }
    }
  }

  // ------------------------------------------------------------------ leak checks and report

  /** Waits until nothing runs but the stuck set (if submitted) and every stream has ended. */
  private void awaitQuiet(DefaultStreamManager m) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      StreamCounters c = m.counters();
      if (c.submitted() == c.ended() && c.running() <= STUCK && m.registrySize() == 0
          && (c.running() == 0 || c.ignoredCancellation() >= STUCK)) {
        break;
      }
      Thread.sleep(20);
    }
  }

  private static void awaitRegistryEmpty(DefaultStreamManager m) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (m.registrySize() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
  }

  /** Threads with a frame of class {@code className} (platform threads; virtual ones are not listed). */
  private static int threadsInside(String className) {
    int n = 0;
    for (StackTraceElement[] stack : Thread.getAllStackTraces().values()) {
      for (StackTraceElement f : stack) {
        if (f.getClassName().startsWith(className)) {
          n++;
          break;
        }
      }
    }
    return n;
  }

  /**
   * This soak's workers: on 17 platform threads named "soak-worker", so that a source another test
   * class left running in this JVM is not counted as ours; on 21+ the default (virtual threads,
   * which Thread.getAllStackTraces does not list anyway).
   */
  private static java.util.concurrent.Executor soakWorkers() {
    if (Runtime.version().feature() >= 21) {
      return Workers.newDefaultExecutor(MAX_RUNNING);
    }
    java.util.concurrent.atomic.AtomicInteger n = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.ThreadPoolExecutor pool =
        new java.util.concurrent.ThreadPoolExecutor(
            MAX_RUNNING,
            MAX_RUNNING,
            1,
            TimeUnit.SECONDS,
            new java.util.concurrent.LinkedBlockingQueue<>(),
            r -> {
              Thread t = new Thread(r, "soak-worker-" + n.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    pool.allowCoreThreadTimeOut(true);
    return pool;
  }

  /** This soak's threads currently inside a source (platform workers; virtual ones are not listed). */
  private static int workersRunningASource() {
    int n = 0;
    for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
      if (!e.getKey().getName().startsWith("soak-worker")) {
        continue;
      }
      for (StackTraceElement f : e.getValue()) {
        if (f.getClassName().equals(DefaultStream.class.getName()) && f.getMethodName().equals("runWorker")) {
          n++;
          break;
        }
      }
    }
    return n;
  }

  private static long usedHeapAfterGc() throws InterruptedException {
    MemoryMXBean mem = ManagementFactory.getMemoryMXBean();
    long best = Long.MAX_VALUE;
    for (int i = 0; i < 4; i++) {
      System.gc();
      Thread.sleep(50);
      best = Math.min(best, mem.getHeapMemoryUsage().getUsed());
    }
    return best;
  }

  private String report(
      int done, long runNanos, StreamCounters c, int busyWorkers, int registry, long heapBefore, long heapAfter) {
    StringBuilder s = new StringBuilder();
    double secs = runNanos / 1e9;
    s.append(String.format(Locale.ROOT, "%n==== Sluice soak: %,d lifecycles (target %,d) in %.1f s, %,.0f/s, on %d cores, JDK %s%n",
        done, LIFECYCLES, secs, done / secs, Runtime.getRuntime().availableProcessors(), Runtime.version()));
    Map<Kind, Long> kinds = new EnumMap<>(Kind.class);
    for (Kind k : Kind.values()) {
      kinds.put(k, byKind.get(k.ordinal()));
    }
    s.append("kinds (warm-up included): ");
    int col = 0;
    for (Map.Entry<Kind, Long> e : kinds.entrySet()) {
      String item = e.getKey().name().toLowerCase(Locale.ROOT) + "=" + e.getValue() + "  ";
      if (col + item.length() > 100) {
        s.append(System.lineSeparator()).append("  ");
        col = 0;
      }
      s.append(item);
      col += item.length();
    }
    s.append(System.lineSeparator());
    s.append(String.format(Locale.ROOT,
        "counters: submitted=%,d = completed=%,d + cancelled=%,d + failed=%,d + timedOut=%,d (%s)%n",
        c.submitted(), c.completed(), c.cancelled(), c.failed(), c.timedOut(),
        c.submitted() == c.ended() ? "adds up" : "DOES NOT ADD UP"));
    s.append(String.format(Locale.ROOT,
        "          evicted=%,d rejected=%d tokensSent=%,d droppedAfterCancel=%,d deadlineTimeouts=%d%n",
        c.evicted(), c.rejected(), c.tokensSent(), c.tokensDroppedAfterCancel(), timedOutByDeadline.get()));
    s.append(String.format(Locale.ROOT,
        "stuck set: %d submitted and cancelled, ignoredCancellation=%d (reported), slots held after the run=%d, released at the end%n",
        STUCK, c.ignoredCancellation(), stuckSlotsHeld));
    s.append(String.format(Locale.ROOT,
        "after the run: registry=%d, workers inside a source=%d (stuck set: %d), Flow deliveries=%d; released: running=%d queued=%d retained=%d%n",
        registry, busyWorkers, STUCK, deliveriesLeft, c.running(), c.queued(), c.retained()));
    s.append(String.format(Locale.ROOT,
        "heap after GC: before %.1f MB, after %.1f MB, growth %+.1f MB (margin %d MB, %+.1f B/lifecycle)%n",
        heapBefore / 1048576.0, heapAfter / 1048576.0, (heapAfter - heapBefore) / 1048576.0, HEAP_MARGIN >> 20,
        done == 0 ? 0.0 : (double) (heapAfter - heapBefore) / done));
    s.append(String.format(Locale.ROOT, "client stalls (a timeout beat a stalled client; tolerated up to 0.1%%): %d%n", stalls.get()));
    s.append(String.format(Locale.ROOT, "lifecycle problems: %d%s%n", problemCount.get(),
        problemCount.get() == 0 ? "" : " " + problems));
    s.append("====");
    return s.toString();
  }
}
