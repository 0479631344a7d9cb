package dev.sluice;

import static dev.sluice.TestStreams.outcome;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.StreamOutcome.Status;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** TokenSink.onCancel: exactly once, in order, also when registered late, never on completion. */
@Timeout(10)
class CancelHookTest {

  private final StreamManager manager = StreamManager.builder().build();

  @AfterEach
  void close() {
    manager.close();
  }

  @Test
  void hooksRunOnceInRegistrationOrder_andLateHookRunsAtOnce() throws Exception {
    List<String> ran = Collections.synchronizedList(new ArrayList<>());
    List<Thread> hookThreads = Collections.synchronizedList(new ArrayList<>());
    CountDownLatch registered = new CountDownLatch(1);
    CountDownLatch cancelled = new CountDownLatch(1);
    StreamHandle h =
        manager.submit(
            sink -> {
              sink.onCancel(
                  () -> {
                    hookThreads.add(Thread.currentThread());
                    ran.add("a");
                  });
              sink.onCancel(
                  () -> {
                    throw new IllegalStateException("a hook that throws is contained");
                  });
              sink.onCancel(() -> ran.add("b"));
              registered.countDown();
              try {
                cancelled.await(5, TimeUnit.SECONDS);
              } catch (InterruptedException expected) { // cancel interrupts the worker
                assertThat(cancelled.await(5, TimeUnit.SECONDS)).isTrue();
              }
              assertThat(sink.isCancelled()).isTrue();
              sink.onCancel(() -> ran.add("late:" + Thread.currentThread().getName()));
            });
    assertThat(registered.await(5, TimeUnit.SECONDS)).isTrue();
    Thread canceller = Thread.currentThread();
    h.cancel();
    h.cancel();
    // Hooks run on the delivery executor, never on the thread that cancels: wait for them.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (ran.size() < 2 && System.nanoTime() < deadline) {
      Thread.sleep(1);
    }
    assertThat(ran).containsExactly("a", "b");
    assertThat(hookThreads).doesNotContain(canceller);
    cancelled.countDown();
    assertThat(((DefaultStreamManager) manager).awaitIdle(5, TimeUnit.SECONDS)).isTrue();
    long lateDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (ran.size() < 3 && System.nanoTime() < lateDeadline) {
      Thread.sleep(1); // the late hook runs on the delivery executor too, after the earlier ones
    }
    assertThat(ran).hasSize(3);
    assertThat(ran.get(2)).startsWith("late:");
    assertThat(outcome(h).status()).isEqualTo(Status.CANCELLED);
  }

  @Test
  void hooksNeverRun_whenTheSourceCompletes() throws Exception {
    List<String> ran = Collections.synchronizedList(new ArrayList<>());
    AtomicReference<TokenSink> escaped = new AtomicReference<>();
    StreamHandle h =
        manager.submit(
            sink -> {
              sink.onCancel(() -> ran.add("early"));
              escaped.set(sink);
            });
    assertThat(outcome(h).status()).isEqualTo(Status.COMPLETED);
    escaped.get().onCancel(() -> ran.add("after completion"));
    assertThat(h.cancel()).isFalse();
    assertThat(ran).isEmpty();
  }

  @Test
  void sendAfterTheSourceReturned_isRefused() throws Exception {
    AtomicReference<TokenSink> escaped = new AtomicReference<>();
    StreamHandle h = manager.submit(sink -> escaped.set(sink));
    assertThat(outcome(h).status()).isEqualTo(Status.COMPLETED);
    Thread other = new Thread(() -> {});
    other.start();
    other.join();
    assertThatThrownBy(() -> escaped.get().send("late"))
        .isInstanceOf(StreamCancelledException.class)
        .hasMessageContaining(h.id());
    assertThat(outcome(h).tokens()).isZero();
    assertThat(manager.counters().tokensDroppedAfterCancel()).isEqualTo(1);
  }

  @Test
  void nullHookOrToken_isRejectedByName() throws Exception {
    AtomicReference<Throwable> hookError = new AtomicReference<>();
    AtomicReference<Throwable> tokenError = new AtomicReference<>();
    StreamHandle h =
        manager.submit(
            sink -> {
              try {
                sink.onCancel(null);
              } catch (NullPointerException e) {
                hookError.set(e);
              }
              try {
                sink.send(null);
              } catch (NullPointerException e) {
                tokenError.set(e);
              }
              sink.send("still works");
            });
    assertThat(outcome(h).status()).isEqualTo(Status.COMPLETED);
    assertThat(outcome(h).tokens()).isEqualTo(1);
    assertThat(hookError.get()).hasMessage("hook");
    assertThat(tokenError.get()).hasMessage("token");
  }
}
