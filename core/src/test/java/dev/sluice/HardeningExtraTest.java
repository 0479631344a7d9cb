package dev.sluice;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Found while writing the issue-10 tests, beyond its list (X1). Public API only; fake time.
 */
@Timeout(30)
class HardeningExtraTest {

  private final FakeTime time = new FakeTime();
  private final ExecutorService workers = Hardening.workerPool();
  private StreamManager manager;

  @AfterEach
  void tearDown() {
    if (manager != null) {
      manager.close();
    }
    workers.shutdownNow();
  }

  /**
   * X1: the slow-reader timeout is "how long one slow reader may hold the producer back". The
   * stream keeps one clock (blockedSince) for the producer and cuts every reader behind when it
   * expires, so a reader that attached (replaying from the start) 100 ms before the producer's
   * first second of waiting ran out is cut with the reader that held it back for the whole second.
   * Expected: the late reader gets its own full timeout; only the first reader is cut.
   */
  @Test
  void slowReaderTimeout_readerAttachedLateAtTheSamePosition_isNotCutOnTheFirstReadersClock()
      throws Exception {
    manager =
        StreamManager.builder()
            .ticker(time)
            .scheduler(time)
            .executor(workers)
            .bufferSize(2)
            .replayWindow(4)
            .slowReaderTimeout(Duration.ofSeconds(1))
            .slowReaderPolicy(SlowReaderPolicy.DETACH)
            .detachPolicy(DetachPolicy.KEEP_RUNNING)
            .stopTimeout(Duration.ofSeconds(2))
            .build();
    AtomicReference<Thread> producer = new AtomicReference<>();
    CountDownLatch attached = new CountDownLatch(1);
    CountDownLatch sentTwo = new CountDownLatch(1);
    StreamHandle h =
        manager.submit(
            sink -> {
              producer.set(Thread.currentThread());
              attached.await();
              sink.send("t1");
              sink.send("t2");
              sentTwo.countDown();
              sink.send("t3");
              sink.send("t4");
            });
    try (StreamReader slow = h.attach()) {
      attached.countDown();
      assertThat(sentTwo.await(5, TimeUnit.SECONDS)).isTrue();
      TestStreams.awaitParked(producer); // t1, t2 sent; blocked on t3 since now
      time.advance(Duration.ofMillis(900));
      try (StreamReader late = h.attach(0)) {
        time.advance(Duration.ofMillis(200)); // the producer has waited 1.1 s, on `late` 0.2 s
        assertThat(slow.poll(Duration.ZERO))
            .as("the reader that held the producer back for 1.1 s")
            .isInstanceOf(StreamEvent.Detached.class);
        assertThat(late.poll(Duration.ofSeconds(5)))
            .as("the reader that attached 0.2 s ago")
            .isEqualTo(new StreamEvent.Token(1, "t1"));
      }
    } finally {
      h.cancel();
    }
  }

  /**
   * X2: the rule "user code (hooks, outcome dependents, listeners, subscribers) never makes
   * cancel() wait", for a listener: onTerminal blocking for 2 s must not make cancel() wait (on
   * 61d603f it runs inline in terminate(), on the cancelling thread).
   */
  @Test
  void cancel_listenerOnTerminalBlocksForSeconds_returnsPromptly() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    manager =
        StreamManager.builder()
            .ticker(time)
            .scheduler(time)
            .executor(workers)
            .stopTimeout(Duration.ofSeconds(2))
            .listener(
                new StreamListener() {
                  @Override
                  public void onTerminal(StreamHandle stream, StreamOutcome outcome) {
                    try {
                      release.await(2, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                      Thread.currentThread().interrupt();
                    }
                  }
                })
            .build();
    CountDownLatch never = new CountDownLatch(1);
    StreamHandle h = manager.submit(sink -> never.await());
    long t0 = System.nanoTime();
    boolean won = h.cancel();
    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    release.countDown();
    assertThat(won).isTrue();
    assertThat(millis).as("cancel() took %d ms with a blocking listener", millis).isLessThan(100);
  }

  /**
   * X3: the same rule for outcome dependents: a dependent added without an executor that blocks for
   * 2 s must not make cancel() wait. (61d603f documents the opposite on StreamHandle.outcome():
   * "dependents added without an executor run on the thread that ends the stream"; the rule
   * changes that contract, so this test pins the new one.)
   */
  @Test
  void cancel_outcomeDependentBlocksForSeconds_returnsPromptly() throws Exception {
    manager =
        StreamManager.builder()
            .ticker(time)
            .scheduler(time)
            .executor(workers)
            .stopTimeout(Duration.ofSeconds(2))
            .build();
    CountDownLatch never = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    StreamHandle h = manager.submit(sink -> never.await());
    h.outcome()
        .thenRun(
            () -> {
              try {
                release.await(2, TimeUnit.SECONDS);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            });
    long t0 = System.nanoTime();
    boolean won = h.cancel();
    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    release.countDown();
    assertThat(won).isTrue();
    assertThat(millis).as("cancel() took %d ms with a blocking outcome dependent", millis).isLessThan(100);
  }

  /**
   * X4: the rule for close(): "user code never makes close() wait". close() cancels every
   * running stream; a source's onCancel hook that blocks for 2 s must not hold close() up (its
   * source returns at once when interrupted, so close() has nothing else to wait for).
   */
  @Test
  void close_onCancelHookBlocksForSeconds_returnsWithoutWaitingForIt() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    manager =
        StreamManager.builder()
            .ticker(time)
            .scheduler(time)
            .executor(workers)
            .stopTimeout(Duration.ofSeconds(5))
            .build();
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch never = new CountDownLatch(1);
    manager.submit(
        sink -> {
          sink.onCancel(
              () -> {
                try {
                  release.await(2, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                  Thread.currentThread().interrupt();
                }
              });
          started.countDown();
          never.await(); // returns at once when the worker is interrupted
        });
    assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
    long t0 = System.nanoTime();
    manager.close();
    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    release.countDown();
    assertThat(millis).as("close() took %d ms with a blocking onCancel hook", millis).isLessThan(1_000);
  }
}
