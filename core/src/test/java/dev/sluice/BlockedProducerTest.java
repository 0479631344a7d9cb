package dev.sluice;

import static dev.sluice.TestStreams.awaitParked;
import static dev.sluice.TestStreams.outcome;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.StreamOutcome.Status;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Invariant 2: a producer blocked in send on a full buffer is released by every way a stream ends. */
@Timeout(10)
class BlockedProducerTest {

  private final FakeTime time = new FakeTime();
  private StreamManager manager =
      StreamManager.builder().bufferSize(2).replayWindow(0).scheduler(time).ticker(time).build();

  /** Records how the producer's blocked send ended. */
  private final CompletableFuture<Throwable> sendFailure = new CompletableFuture<>();

  private final AtomicReference<Thread> producer = new AtomicReference<>();

  @AfterEach
  void close() {
    manager.close();
  }

  private StreamHandle submitBlockingProducer() throws InterruptedException {
    StreamHandle h =
        manager.submit(
            sink -> {
              producer.set(Thread.currentThread());
              try {
                for (int i = 0; ; i++) {
                  sink.send("t" + i);
                }
              } catch (RuntimeException e) {
                sendFailure.complete(e);
                throw e;
              }
            });
    awaitParked(producer);
    return h;
  }

  private void assertReleasedWith(StreamHandle h, Status status) throws Exception {
    Throwable e = sendFailure.get(5, TimeUnit.SECONDS);
    assertThat(e).isInstanceOf(StreamCancelledException.class);
    assertThat(((StreamCancelledException) e).status()).isEqualTo(status);
    assertThat(((StreamCancelledException) e).streamId()).isEqualTo(h.id());
    assertThat(outcome(h).status()).isEqualTo(status);
    assertThat(outcome(h).tokens()).isEqualTo(2); // exactly the buffer, nothing lost or extra
    assertThat(((DefaultStreamManager) manager).awaitIdle(5, TimeUnit.SECONDS)).isTrue();
    assertThat(manager.counters().tokensDroppedAfterCancel()).isEqualTo(1);
  }

  @Test
  void cancel_releasesBlockedSend() throws Exception {
    StreamHandle h = submitBlockingProducer();
    assertThat(h.cancel()).isTrue();
    assertReleasedWith(h, Status.CANCELLED);
  }

  @Test
  void readerDetach_underCancelPolicy_releasesBlockedSend() throws Exception {
    StreamHandle h = submitBlockingProducer();
    h.attach().close();
    assertReleasedWith(h, Status.CANCELLED);
    assertThat(outcome(h).message()).isEqualTo("reader detached");
  }

  @Test
  void deadline_releasesBlockedSend() throws Exception {
    manager.close();
    manager =
        StreamManager.builder()
            .bufferSize(2)
            .scheduler(time)
            .ticker(time)
            .deadline(Duration.ofSeconds(10))
            .build();
    StreamHandle h = submitBlockingProducer();
    time.advance(Duration.ofSeconds(9));
    assertThat(h.state()).isEqualTo(StreamHandle.State.RUNNING);
    time.advance(Duration.ofSeconds(1));
    assertReleasedWith(h, Status.TIMED_OUT);
    assertThat(outcome(h).message()).contains("deadline").contains("PT10S");
  }

  @Test
  void close_releasesBlockedSend() throws Exception {
    StreamHandle h = submitBlockingProducer();
    manager.close();
    assertReleasedWith(h, Status.CANCELLED);
    assertThat(outcome(h).message()).isEqualTo("manager closed");
    assertThat(manager.counters().ignoredCancellation()).isZero();
  }

  @Test
  void interruptOfProducer_failsStreamAndKeepsInterruptFlag() throws Exception {
    AtomicReference<Boolean> interruptedAfter = new AtomicReference<>();
    CountDownLatch done = new CountDownLatch(1);
    StreamHandle h =
        manager.submit(
            sink -> {
              producer.set(Thread.currentThread());
              try {
                for (int i = 0; ; i++) {
                  sink.send("t" + i);
                }
              } finally {
                interruptedAfter.set(Thread.currentThread().isInterrupted());
                done.countDown();
              }
            });
    awaitParked(producer);
    producer.get().interrupt();
    assertThat(done.await(5, TimeUnit.SECONDS)).isTrue();
    StreamOutcome o = outcome(h);
    assertThat(o.status()).isEqualTo(Status.FAILED);
    assertThat(o.cause()).isInstanceOf(InterruptedException.class);
    assertThat(interruptedAfter.get()).isTrue();
  }

  @Test
  void cancel_runsHooksOnceAndInterruptsWorkerButNeverAfterItReturned() throws Exception {
    CountDownLatch sleeping = new CountDownLatch(1);
    AtomicReference<Throwable> seen = new AtomicReference<>();
    AtomicInteger hookRuns = new AtomicInteger();
    StreamHandle h =
        manager.submit(
            sink -> {
              sink.onCancel(hookRuns::incrementAndGet);
              sleeping.countDown();
              try {
                Thread.sleep(60_000); // an upstream call that only an interrupt wakes
              } catch (InterruptedException e) {
                seen.set(e);
              }
            });
    assertThat(sleeping.await(5, TimeUnit.SECONDS)).isTrue();
    assertThat(h.cancel()).isTrue();
    assertThat(h.cancel()).isFalse();
    assertThat(((DefaultStreamManager) manager).awaitIdle(5, TimeUnit.SECONDS)).isTrue();
    assertThat(seen.get()).isInstanceOf(InterruptedException.class);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (hookRuns.get() == 0 && System.nanoTime() < deadline) {
      Thread.sleep(1); // hooks run on the delivery executor, after the interrupt
    }
    assertThat(hookRuns.get()).isEqualTo(1);
    assertThat(outcome(h).status()).isEqualTo(Status.CANCELLED);

    // The worker thread that ran it must not carry the interrupt into its next task.
    AtomicReference<Boolean> nextInterrupted = new AtomicReference<>();
    StreamHandle next =
        manager.submit(sink -> nextInterrupted.set(Thread.currentThread().isInterrupted()));
    assertThat(outcome(next).status()).isEqualTo(Status.COMPLETED);
    assertThat(nextInterrupted.get()).isFalse();
  }
}
