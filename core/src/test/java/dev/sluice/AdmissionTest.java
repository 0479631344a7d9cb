package dev.sluice;

import static dev.sluice.TestStreams.drain;
import static dev.sluice.TestStreams.outcome;
import static dev.sluice.TestStreams.terminal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.StreamOutcome.Status;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Admission: a limit on running sources, a bounded queue, clear rejection, cancellable waiting. */
@Timeout(10)
class AdmissionTest {

  private final CountDownLatch release = new CountDownLatch(1);
  private final AtomicInteger concurrent = new AtomicInteger();
  private final AtomicInteger maxSeen = new AtomicInteger();
  private StreamManager manager =
      StreamManager.builder().maxRunning(2).queueCapacity(2).build();

  @AfterEach
  void close() {
    release.countDown();
    manager.close();
  }

  private TokenSource gated() {
    return sink -> {
      int now = concurrent.incrementAndGet();
      maxSeen.accumulateAndGet(now, Math::max);
      try {
        release.await();
        sink.send("done");
      } finally {
        concurrent.decrementAndGet();
      }
    };
  }

  @Test
  void neverMoreThanMaxRunning_queuedStreamsRunWhenSlotsFree() throws Exception {
    StreamHandle[] hs = new StreamHandle[4];
    for (int i = 0; i < 4; i++) {
      hs[i] = manager.submit(gated());
    }
    StreamCounters c = manager.counters();
    assertThat(c.running()).isEqualTo(2);
    assertThat(c.queued()).isEqualTo(2);
    release.countDown();
    for (StreamHandle h : hs) {
      assertThat(outcome(h).status()).isEqualTo(Status.COMPLETED);
    }
    assertThat(maxSeen.get()).isLessThanOrEqualTo(2);
    assertThat(((DefaultStreamManager) manager).awaitIdle(5, TimeUnit.SECONDS)).isTrue();
    assertThat(manager.counters().queued()).isZero();
  }

  @Test
  void fullQueue_rejectsWithItsSize_andTheManagerKeepsWorking() throws Exception {
    for (int i = 0; i < 4; i++) {
      manager.submit(gated());
    }
    assertThatThrownBy(() -> manager.submit(gated()))
        .isInstanceOf(RejectedExecutionException.class)
        .hasMessage("queue is full: 2 streams waiting, 2 running (maxRunning 2)");
    assertThat(manager.counters().rejected()).isEqualTo(1);
    assertThat(manager.counters().submitted()).isEqualTo(4);
    release.countDown();
    assertThat(((DefaultStreamManager) manager).awaitIdle(5, TimeUnit.SECONDS)).isTrue();
    assertThat(outcome(manager.submit(TestStreams.counting(1))).status())
        .isEqualTo(Status.COMPLETED);
  }

  @Test
  void cancellingAQueuedStream_deliversCancelled_freesItsPlace_andItNeverRuns() throws Exception {
    manager.submit(gated());
    manager.submit(gated());
    AtomicInteger ran = new AtomicInteger();
    StreamHandle queued = manager.submit(sink -> ran.incrementAndGet());
    manager.submit(gated());
    assertThat(queued.cancel()).isTrue();
    assertThat(manager.counters().queued()).isEqualTo(1);
    manager.submit(gated()); // its place in the queue is free again
    try (StreamReader r = manager.find(queued.id()).orElseThrow().attach()) {
      StreamEvent.Terminal end = terminal(drain(r));
      assertThat(end.status()).isEqualTo(Status.CANCELLED);
      assertThat(end.sequence()).isEqualTo(1);
    }
    release.countDown();
    assertThat(((DefaultStreamManager) manager).awaitIdle(5, TimeUnit.SECONDS)).isTrue();
    assertThat(ran.get()).isZero();
  }

  @Test
  void submitTimeout_waitsForRoomThenSucceeds() throws Exception {
    manager.close();
    manager =
        StreamManager.builder()
            .maxRunning(1)
            .queueCapacity(0)
            .submitTimeout(Duration.ofSeconds(5))
            .build();
    StreamHandle first = manager.submit(gated());
    Thread releaser =
        new Thread(
            () -> {
              try {
                Thread.sleep(50);
              } catch (InterruptedException e) {
                return;
              }
              release.countDown();
            });
    releaser.start();
    StreamHandle second = manager.submit(sink -> sink.send("x")); // waits for the slot
    assertThat(outcome(first).status()).isEqualTo(Status.COMPLETED);
    assertThat(outcome(second).status()).isEqualTo(Status.COMPLETED);
    releaser.join();
  }

  @Test
  void submitTimeout_expires_withRejection() {
    manager.close();
    manager =
        StreamManager.builder()
            .maxRunning(1)
            .queueCapacity(0)
            .submitTimeout(Duration.ofMillis(30))
            .build();
    manager.submit(gated());
    long start = System.nanoTime();
    assertThatThrownBy(() -> manager.submit(gated()))
        .isInstanceOf(RejectedExecutionException.class)
        .hasMessageContaining("queue is full: 0 streams waiting");
    assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(30));
  }

  @Test
  void closedManager_rejectsSubmit_andCloseIsIdempotent() {
    manager.close();
    manager.close();
    assertThatThrownBy(() -> manager.submit(TestStreams.counting(1)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("StreamManager is closed");
  }

  @Test
  void close_cancelsQueuedAndRunning_readersGetCancelled() throws Exception {
    StreamHandle running = manager.submit(gated());
    StreamHandle queued = manager.submit(gated());
    manager.submit(gated());
    StreamHandle queued2 = manager.submit(gated());
    StreamReader r = running.attach();
    manager.close();
    assertThat(terminal(drain(r)).status()).isEqualTo(Status.CANCELLED);
    assertThat(outcome(queued).status()).isEqualTo(Status.CANCELLED);
    assertThat(outcome(queued2).message()).isEqualTo("manager closed");
    StreamCounters c = manager.counters();
    assertThat(c.running()).isZero();
    assertThat(c.queued()).isZero();
    assertThat(c.retained()).isZero();
    assertThat(c.cancelled()).isEqualTo(4);
    assertThat(manager.find(running.id())).isEmpty();
  }

  @Test
  void executorThatRejects_failsTheStreamClearly_andFreesTheSlot() throws Exception {
    manager.close();
    AtomicInteger calls = new AtomicInteger();
    manager =
        StreamManager.builder()
            .maxRunning(1)
            .executor(
                task -> {
                  if (calls.incrementAndGet() == 1) {
                    throw new RejectedExecutionException("saturated");
                  }
                  new Thread(task).start();
                })
            .build();
    StreamHandle rejected = manager.submit(TestStreams.counting(1));
    StreamOutcome o = outcome(rejected);
    assertThat(o.status()).isEqualTo(Status.FAILED);
    assertThat(o.cause()).isInstanceOf(RejectedExecutionException.class);
    assertThat(o.message()).contains("executor rejected");
    assertThat(outcome(manager.submit(TestStreams.counting(1))).status())
        .isEqualTo(Status.COMPLETED);
  }
}
