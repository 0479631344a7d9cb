package dev.sluice;

import static dev.sluice.TestStreams.drain;
import static dev.sluice.TestStreams.terminal;
import static dev.sluice.TestStreams.texts;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.Hardening.Recorder;
import dev.sluice.StreamOutcome.Status;
import java.io.File;
import java.lang.ref.Reference;
import java.lang.ref.WeakReference;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 10, the suspicions S2-S10 (S1 is raced in jcstress: {@code SlowReader_02_BlockedSinceRace};
 * see the note on S1 below). Each test states the fixed behaviour.
 *
 * <p>Public API, except where a comment says otherwise. Time is fake; workers are real threads of a
 * test-owned pool.
 */
@Timeout(60)
class HardeningTest {

  private final FakeTime time = new FakeTime();
  private final ExecutorService workers = Hardening.workerPool();
  private final List<StreamManager> managers = new ArrayList<>();
  private final CountDownLatch release = new CountDownLatch(1);

  private StreamManager manager(UnaryOperator<StreamManager.Builder> config) {
    StreamManager m =
        config
            .apply(
                StreamManager.builder()
                    .ticker(time)
                    .scheduler(time)
                    .executor(workers)
                    .stopTimeout(Duration.ofSeconds(2)))
            .build();
    managers.add(m);
    return m;
  }

  @AfterEach
  void tearDown() {
    release.countDown();
    for (StreamManager m : managers) {
      m.close();
    }
    workers.shutdownNow();
  }

  /*
   * S1 (cutSlowReaders rewrites blockedSince with a read and a separate write): the two accesses
   * are adjacent instructions on the timer thread with no user code, clock read or lock between
   * them, so no unit test can place the producer's "got space" between them deterministically. The
   * race is run in jcstress (SlowReader_02_BlockedSinceRace: a reader that read its token, so that
   * it no longer holds the producer back, must never be cut; on 61d603f it fails in -m quick, 33 of
   * 175,600 samples, and usually passes in -m sanity). A stronger, deterministic form of the
   * same contract ("the slow-reader clock never cuts a reader that did not hold the producer back
   * for the timeout") is HardeningExtraTest.slowReaderTimeout_readerAttachedLate_...
   */

  // ------------------------------------------------------------------ S2

  /**
   * S2: the timer cuts two slow readers, a Flow subscriber first and a blocking reader second. While
   * it signals the subscriber (the delivery executor runs on the timer's thread here) the stream
   * ends: the blocking reader, still attached at the end with its token retained, must get that
   * token and the terminal event, not Detached.
   *
   * <p>Internal: reads {@code DefaultReader.position()} / {@code DefaultReader.GONE} to tell whether
   * the second reader had been cut already when the stream ended (a core that cuts every reader
   * before signalling any may legitimately give it Detached; the test then checks only that it ends).
   */
  @Test
  void slowReaderCut_racingTheEnd_neverDetachesAReaderThatWasAttachedAtTheEnd() throws Exception {
    AtomicReference<StreamHandle> handle = new AtomicReference<>();
    AtomicReference<StreamReader> second = new AtomicReference<>();
    AtomicBoolean armed = new AtomicBoolean();
    AtomicReference<Boolean> secondAttachedAtEnd = new AtomicReference<>();
    CountDownLatch ended = new CountDownLatch(1);
    Executor delivery =
        task -> {
          if (armed.compareAndSet(true, false)) {
            // The timer's cut of the subscriber signals it: end the stream right now.
            handle.get().cancel();
            secondAttachedAtEnd.set(
                ((DefaultReader) second.get()).position() != DefaultReader.GONE);
            ended.countDown();
          }
          task.run();
        };
    StreamManager m =
        manager(
            b ->
                b.bufferSize(1)
                    .slowReaderTimeout(Duration.ofSeconds(1))
                    .slowReaderPolicy(SlowReaderPolicy.DETACH)
                    .deliveryExecutor(delivery));
    CountDownLatch attached = new CountDownLatch(1);
    CountDownLatch sentFirst = new CountDownLatch(1);
    AtomicReference<Thread> producer = new AtomicReference<>();
    StreamHandle h =
        m.submit(
            sink -> {
              producer.set(Thread.currentThread());
              attached.await();
              sink.send("t1");
              sentFirst.countDown();
              sink.send("t2"); // blocks: both readers are slow
            });
    handle.set(h);
    Recorder flow = new Recorder(0);
    h.publisher().subscribe(flow); // first in the fan-out
    StreamReader r2 = h.attach();
    second.set(r2);
    attached.countDown();
    assertThat(sentFirst.await(5, TimeUnit.SECONDS)).isTrue();
    TestStreams.awaitParked(producer); // in send of t2: the only place it parks after t1

    armed.set(true);
    time.advance(Duration.ofSeconds(2)); // the slow-reader timer fires and cuts
    assertThat(ended.await(5, TimeUnit.SECONDS)).as("the timer cut the subscriber").isTrue();
    List<StreamEvent> events = new ArrayList<>();
    for (StreamEvent e = r2.poll(Duration.ofSeconds(5)); e != null; e = r2.poll(Duration.ofSeconds(5))) {
      events.add(e);
      if (r2.isFinished()) {
        break;
      }
    }
    if (Boolean.TRUE.equals(secondAttachedAtEnd.get())) {
      assertThat(events)
          .as("the second reader was attached when the stream ended, with token 1 retained")
          .hasSize(2);
      assertThat(events.get(0)).isEqualTo(new StreamEvent.Token(1, "t1"));
      assertThat(events.get(1))
          .isInstanceOfSatisfying(
              StreamEvent.Terminal.class, t -> assertThat(t.status()).isEqualTo(Status.CANCELLED));
    } else {
      assertThat(r2.isFinished()).as("second reader ended: %s", events).isTrue();
    }
  }

  // ------------------------------------------------------------------ S3

  /**
   * S3: close() reports a source that ignores cancellation (counters().ignoredCancellation and a
   * WARN naming the stream) even when its stream was already removed from the registry because its
   * terminal event was delivered, and the stop-check timer never ran.
   */
  @Test
  void close_sourceIgnoringCancellationOfAStreamRemovedByDelivery_isStillReported()
      throws Exception {
    try (LogCapture logs = new LogCapture()) {
      StreamManager m =
          manager(b -> b.removeOnDelivery(true).stopTimeout(Duration.ofMillis(200)));
      StreamHandle h =
          m.submit(
              sink -> {
                sink.send("t1");
                while (release.getCount() > 0) {
                  try {
                    release.await(); // ignores interrupts: a source that does not stop
                  } catch (InterruptedException ignored) {
                    // on it goes
                  }
                }
              });
      try (StreamReader r = h.attach()) {
        assertThat(r.next()).isEqualTo(new StreamEvent.Token(1, "t1"));
        assertThat(h.cancel()).isTrue();
        assertThat(terminal(drain(r)).status()).isEqualTo(Status.CANCELLED);
      }
      assertThat(m.find(h.id())).as("removed on delivery (precondition)").isEmpty();
      m.close();
      assertThat(m.counters().ignoredCancellation())
          .as("close() reported the source that ignores cancellation")
          .isEqualTo(1);
      assertThat(logs.about(h.id())).anyMatch(l -> l.startsWith("WARN"));
    }
  }

  // ------------------------------------------------------------------ S4

  /*
   * S4 (runWorker's finally spins with onSpinWait until W_INTERRUPTED, while the interrupter may be
   * an unmounted virtual thread): not observable in a bounded test. The interrupter runs CAS
   * (RUNNING -> INTERRUPTING), Thread.interrupt(), worker = INTERRUPTED; a livelock needs it to lose
   * its carrier inside Thread.interrupt() while every carrier spins in such a finally. Virtual
   * threads are not time-sliced; on JDK 21-23 a contended monitor pins rather than unmounts; on 24+
   * Thread.interrupt() can unmount only if the target's interrupt lock is contended, which the
   * spinning worker never holds. It would take -Djdk.virtualThreadScheduler.parallelism=1 at JVM
   * start and a lucky preemption point. The test below is a bounded smoke test on 21+: virtual
   * threads cancel streams whose sources return as they are interrupted, on virtual workers, and
   * every worker must return. It passes on 61d603f; the fix (park instead of spin) is by reasoning.
   */
  @Test
  void cancel_fromVirtualThreadsRacingVirtualWorkersReturning_everyWorkerReturns()
      throws Exception {
    Assumptions.assumeTrue(Runtime.version().feature() >= 21, "virtual threads need JDK 21+");
    java.util.concurrent.ThreadFactory virtual = virtualFactory();
    StreamManager m =
        StreamManager.builder()
            .ticker(time)
            .scheduler(time)
            .stopTimeout(Duration.ofSeconds(2))
            .queueCapacity(2_000) // every submit is admitted, however slowly the cancels run
            .build();
    managers.add(m);
    List<Thread> cancellers = new ArrayList<>();
    for (int i = 0; i < 2_000; i++) {
      StreamHandle h =
          m.submit(
              sink -> {
                while (!sink.isCancelled()) {
                  Thread.yield(); // a virtual thread must not hog its carrier
                }
              });
      Thread c = virtual.newThread(h::cancel);
      c.start();
      cancellers.add(c);
    }
    for (Thread c : cancellers) {
      c.join(5_000);
    }
    assertThat(((DefaultStreamManager) m).awaitIdle(10, TimeUnit.SECONDS))
        .as("every worker returned: %s", m.counters())
        .isTrue();
  }

  private static java.util.concurrent.ThreadFactory virtualFactory() throws Exception {
    Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
    return (java.util.concurrent.ThreadFactory)
        Class.forName("java.lang.Thread$Builder").getMethod("factory").invoke(builder);
  }

  // ------------------------------------------------------------------ S5

  /**
   * S5: fan-out with removeOnDelivery: the first reader to get the terminal must not remove the
   * stream while another reader is still attached.
   */
  @Test
  void removeOnDelivery_firstOfTwoReadersGetsTheTerminal_streamStaysFindableForTheOther()
      throws Exception {
    StreamManager m = manager(b -> b.removeOnDelivery(true));
    StreamHandle h = m.submit(TestStreams.counting(3));
    StreamReader a = h.attach();
    StreamReader b = h.attach();
    assertThat(terminal(drain(a)).status()).isEqualTo(Status.COMPLETED);
    assertThat(m.find(h.id()))
        .as("the stream was removed when reader A got its terminal, while reader B is attached")
        .isPresent();
    assertThat(texts(drain(b))).containsExactly("t1", "t2", "t3");
    assertThat(m.find(h.id())).as("removed once the last attached reader got the terminal").isEmpty();
  }

  /**
   * S5: fan-out with removeOnDelivery: a reader that left early could still resume, so the first
   * terminal delivered to another reader must not remove the stream (retention decides).
   */
  @Test
  void removeOnDelivery_aReaderLeftEarly_streamStaysFindableForItsResume() throws Exception {
    StreamManager m =
        manager(b -> b.removeOnDelivery(true).detachPolicy(DetachPolicy.KEEP_RUNNING));
    CountDownLatch more = new CountDownLatch(1);
    StreamHandle h =
        m.submit(
            sink -> {
              sink.send("t1");
              more.await();
              sink.send("t2");
            });
    StreamReader early = h.attach();
    assertThat(early.next()).isEqualTo(new StreamEvent.Token(1, "t1"));
    early.close(); // a client disconnect: it will come back with Last-Event-ID 1
    StreamReader a = h.attach();
    more.countDown();
    assertThat(texts(drain(a))).containsExactly("t1", "t2");
    assertThat(m.find(h.id()))
        .as("removed on delivery to reader A, though the early reader could still resume")
        .isPresent();
    try (StreamReader resumed = m.find(h.id()).orElseThrow().attach(1)) {
      List<StreamEvent> rest = drain(resumed);
      assertThat(texts(rest)).containsExactly("t2");
      assertThat(terminal(rest).status()).isEqualTo(Status.COMPLETED);
    }
  }

  // ------------------------------------------------------------------ S6

  /**
   * S6: the idle timeout (no token for 10 s) does not count time the producer spent blocked in send
   * by a slow reader: that is the reader's doing, not the upstream's.
   */
  @Test
  void idleTimeout_producerBlockedBySlowReaderLongerThanIt_doesNotTimeOut() throws Exception {
    StreamManager m = manager(b -> b.bufferSize(2).idleTimeout(Duration.ofSeconds(10)));
    AtomicReference<Thread> producer = new AtomicReference<>();
    CountDownLatch attached = new CountDownLatch(1);
    CountDownLatch sentTwo = new CountDownLatch(1);
    StreamHandle h =
        m.submit(
            sink -> {
              producer.set(Thread.currentThread());
              attached.await();
              sink.send("t1");
              sink.send("t2");
              sentTwo.countDown();
              for (int n = 3; n <= 5; n++) {
                sink.send("t" + n);
              }
            });
    try (StreamReader r = h.attach()) {
      attached.countDown();
      assertThat(sentTwo.await(5, TimeUnit.SECONDS)).isTrue();
      TestStreams.awaitParked(producer); // blocked in send of t3: the reader has read nothing
      time.advance(Duration.ofSeconds(15));
      assertThat(h.state())
          .as("the idle timeout fired while the producer was blocked by the slow reader: %s",
              h.outcome().toCompletableFuture().getNow(null))
          .isEqualTo(StreamHandle.State.RUNNING);
      List<StreamEvent> events = drain(r);
      assertThat(texts(events)).containsExactly("t1", "t2", "t3", "t4", "t5");
      assertThat(terminal(events).status()).isEqualTo(Status.COMPLETED);
    }
  }

  // ------------------------------------------------------------------ S7

  /**
   * S7: pendingSeq is written by the producer and read by readers deciding whether to wake it. A
   * plain long may tear (JLS 17.7) and has no ordering of its own; it must be volatile (or gone).
   * Not observable on a 64-bit HotSpot, so this checks the declaration of every class of the
   * package that still has such a field. Internal: the field name {@code pendingSeq}.
   */
  @Test
  void pendingSeq_sharedBetweenProducerAndReaders_isDeclaredVolatile() throws Exception {
    List<String> plain = new ArrayList<>();
    int found = 0;
    for (Class<?> c : mainClasses()) {
      for (Field f : c.getDeclaredFields()) {
        if (f.getName().equals("pendingSeq")) {
          found++;
          if (!Modifier.isVolatile(f.getModifiers()) && !Modifier.isFinal(f.getModifiers())) {
            plain.add(c.getSimpleName() + "." + f.getName());
          }
        }
      }
    }
    assertThat(plain).as("plain pendingSeq fields read across threads (of %d found)", found).isEmpty();
  }

  /** Every class compiled from core's main sources in package dev.sluice. */
  private static List<Class<?>> mainClasses() throws URISyntaxException, ClassNotFoundException {
    File root = new File(DefaultStream.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    File dir = new File(root, "dev/sluice");
    List<Class<?>> out = new ArrayList<>();
    File[] files = dir.listFiles((d, n) -> n.endsWith(".class"));
    assertThat(files).as("classes in %s", dir).isNotEmpty();
    for (File f : files) {
      String name = f.getName();
      out.add(Class.forName("dev.sluice." + name.substring(0, name.length() - ".class".length()), false,
          HardeningTest.class.getClassLoader()));
    }
    return out;
  }

  // ------------------------------------------------------------------ S8: HardeningCallbackTest
  // ------------------------------------------------------------------ S9: HardeningAttachTest

  // ------------------------------------------------------------------ S10

  /**
   * S10: once the worker has returned, the ended stream no longer references its TokenSource (which
   * often holds the prompt and an HTTP client), although the stream itself stays retained.
   */
  @Test
  void runWorker_afterTheSourceReturned_retainedStreamNoLongerReferencesTheSource()
      throws Exception {
    StreamManager m = manager(b -> b.removeOnDelivery(false).retention(Duration.ofMinutes(5)));
    List<StreamHandle> keep = new ArrayList<>();
    WeakReference<TokenSource> ref = submitAndForgetSource(m, keep);
    StreamHandle h = keep.get(0);
    assertThat(TestStreams.outcome(h).status()).isEqualTo(Status.COMPLETED);
    assertThat(((DefaultStreamManager) m).awaitIdle(5, TimeUnit.SECONDS)).isTrue();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (ref.get() != null && System.nanoTime() < deadline) {
      System.gc();
      Thread.sleep(20);
    }
    assertThat(ref.get())
        .as("the source is still reachable from the retained, ended stream %s", h)
        .isNull();
    assertThat(m.find(h.id())).as("the stream itself is retained").isPresent();
    Reference.reachabilityFence(h);
  }

  private static WeakReference<TokenSource> submitAndForgetSource(
      StreamManager m, List<StreamHandle> keep) {
    byte[] prompt = new byte[1 << 20]; // what a real source holds on to
    TokenSource source =
        sink -> {
          sink.send("t" + prompt.length);
        };
    keep.add(m.submit(source));
    return new WeakReference<>(source);
  }
}
