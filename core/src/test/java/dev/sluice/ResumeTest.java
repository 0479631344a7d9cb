package dev.sluice;

import static dev.sluice.TestStreams.assertSequential;
import static dev.sluice.TestStreams.drain;
import static dev.sluice.TestStreams.outcome;
import static dev.sluice.TestStreams.terminal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.StreamOutcome.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Resume from a sequence number, and clear errors for what is gone. */
@Timeout(10)
class ResumeTest {

  private StreamManager manager =
      StreamManager.builder()
          .detachPolicy(DetachPolicy.KEEP_RUNNING)
          .bufferSize(4)
          .replayWindow(4)
          .build();

  @AfterEach
  void close() {
    manager.close();
  }

  @Test
  void resumeAfterDisconnect_continuesWithNoGapAndNoDuplicate() throws Exception {
    StreamHandle h = manager.submit(TestStreams.counting(100));
    List<StreamEvent> seen = new ArrayList<>();
    long last = 0;
    // Disconnect every few events, resuming from the last one seen, until the end.
    while (seen.isEmpty() || !(seen.get(seen.size() - 1) instanceof StreamEvent.Terminal)) {
      try (StreamReader r = h.attach(last)) {
        for (int i = 0; i < 3; i++) {
          StreamEvent e = r.next();
          seen.add(e);
          last = e.sequence();
          if (e instanceof StreamEvent.Terminal) {
            break;
          }
        }
      }
    }
    assertSequential(seen, 1);
    assertThat(terminal(seen).status()).isEqualTo(Status.COMPLETED);
    assertThat(seen).hasSize(101);
  }

  @Test
  void resumeFromEarlierThanDelivered_replaysFromTheWindow() throws Exception {
    CountDownLatch go = new CountDownLatch(1);
    StreamHandle h =
        manager.submit(
            sink -> {
              for (int i = 1; i <= 6; i++) {
                sink.send("t" + i);
              }
              go.await();
            });
    StreamReader r = h.attach();
    for (int i = 0; i < 6; i++) {
      r.next();
    }
    r.close(); // the server read 6, but the client only got 3 before the connection dropped
    try (StreamReader again = h.attach(3)) {
      assertThat(again.next()).isEqualTo(new StreamEvent.Token(4, "t4"));
      assertThat(again.next()).isEqualTo(new StreamEvent.Token(5, "t5"));
      assertThat(again.next()).isEqualTo(new StreamEvent.Token(6, "t6"));
      go.countDown();
      assertThat(terminal(drain(again)).sequence()).isEqualTo(7);
    }
  }

  @Test
  void resumeBeyondTheWindow_failsNamingTheDroppedRange() throws Exception {
    StreamHandle h = manager.submit(TestStreams.counting(40));
    try (StreamReader r = h.attach()) {
      drain(r);
    }
    // The ring holds 8 (4 + 4). Judged by what was written: slot 41 aliases token 33 and may have
    // been written only if the producer's permit ever reached 41 (the reader ran ahead while it
    // sent), so events 33..40, or 34..40, are left; nothing earlier ever is.
    AtomicLong firstRetained = new AtomicLong();
    assertThatThrownBy(() -> h.attach(10))
        .isInstanceOfSatisfying(
            EventsDroppedException.class,
            e -> {
              assertThat(e.firstRequested()).isEqualTo(11);
              assertThat(e.firstRetained()).isBetween(33L, 34L);
              firstRetained.set(e.firstRetained());
            })
        .hasMessageContaining("events 11..3");
    long first = firstRetained.get();
    try (StreamReader r = h.attach(first - 1)) { // what the exception suggests works
      assertThat(r.next()).isEqualTo(new StreamEvent.Token(first, "t" + first));
    }
  }

  @Test
  void lateFirstReader_getsEverythingWhileItFits() throws Exception {
    StreamHandle h = manager.submit(TestStreams.counting(4));
    assertThat(outcome(h).status()).isEqualTo(Status.COMPLETED);
    try (StreamReader r = h.attach()) {
      List<StreamEvent> events = drain(r);
      assertThat(TestStreams.texts(events)).containsExactly("t1", "t2", "t3", "t4");
    }
  }

  @Test
  void badSequenceNumbers_areRejectedByName() {
    StreamHandle h = manager.submit(TestStreams.counting(2));
    assertThatThrownBy(() -> h.attach(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("lastSequence must be >= 0, got -1");
    assertThatThrownBy(() -> h.attach(Long.MAX_VALUE))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("lastSequence " + Long.MAX_VALUE + " is beyond the last event");
    h.cancel();
  }

  @Test
  void resumeAfterTheTerminal_isRejected_andAReaderIsFinishedAfterIt() throws Exception {
    manager.close();
    manager = StreamManager.builder().removeOnDelivery(false).build();
    StreamHandle h = manager.submit(TestStreams.counting(2));
    assertThat(outcome(h).status()).isEqualTo(Status.COMPLETED);
    assertThatThrownBy(() -> h.attach(3)).hasMessageContaining("beyond the last event");
    try (StreamReader r = h.attach(2)) {
      assertThat(r.next()).isInstanceOf(StreamEvent.Terminal.class);
      assertThat(r.isFinished()).isTrue();
      assertThat(r.lastSequence()).isEqualTo(3);
      assertThatThrownBy(r::next).isInstanceOf(NoSuchElementException.class);
    }
  }

  @Test
  void closedReader_throwsAndCloseFromAnotherThreadWakesABlockedReader() throws Exception {
    CountDownLatch never = new CountDownLatch(1);
    StreamHandle h = manager.submit(sink -> never.await());
    StreamReader r = h.attach();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    Thread t =
        new Thread(
            () -> {
              try {
                r.next();
              } catch (Throwable e) {
                failure.set(e);
              }
            });
    t.start();
    TestStreams.awaitParked(t);
    r.close();
    t.join(5000);
    assertThat(failure.get())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("is closed");
    assertThatThrownBy(r::next).isInstanceOf(IllegalStateException.class);
    assertThat(h.state()).isEqualTo(StreamHandle.State.RUNNING); // KEEP_RUNNING
    h.cancel();
  }

  @Test
  void pollTimesOutWithNull_andInterruptThrows() throws Exception {
    CountDownLatch never = new CountDownLatch(1);
    StreamHandle h = manager.submit(sink -> never.await());
    try (StreamReader r = h.attach()) {
      assertThat(r.poll(Duration.ofMillis(20))).isNull();
      assertThat(r.poll(Duration.ZERO)).isNull();
      Thread.currentThread().interrupt();
      assertThatThrownBy(() -> r.poll(Duration.ofSeconds(5)))
          .isInstanceOf(InterruptedException.class);
      assertThat(Thread.interrupted()).isFalse();
    }
    h.cancel();
    assertThat(outcome(h).status()).isEqualTo(Status.CANCELLED);
    assertThat(h.state()).isEqualTo(StreamHandle.State.CANCELLED);
  }
}
