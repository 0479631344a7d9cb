package dev.sluice;

import static dev.sluice.TestStreams.assertSequential;
import static dev.sluice.TestStreams.drain;
import static dev.sluice.TestStreams.outcome;
import static dev.sluice.TestStreams.terminal;
import static dev.sluice.TestStreams.texts;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.StreamHandle.State;
import dev.sluice.StreamOutcome.Status;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The seed chat server's four scenarios, and its three bugs, against the real manager. */
@Timeout(10)
class SeedScenariosTest {

  private final StreamManager manager = StreamManager.builder().bufferSize(4).build();

  @AfterEach
  void close() {
    manager.close();
  }

  @Test
  void happyPath_readerGetsEveryTokenThenCompleted() throws Exception {
    StreamHandle h = manager.submit(TestStreams.counting(50));
    List<StreamEvent> events;
    try (StreamReader r = h.attach()) {
      events = drain(r);
    }
    assertThat(texts(events)).hasSize(50).startsWith("t1", "t2").endsWith("t50");
    assertSequential(events, 1);
    StreamEvent.Terminal end = terminal(events);
    assertThat(end.status()).isEqualTo(Status.COMPLETED);
    assertThat(end.sequence()).isEqualTo(51);
    assertThat(end.outcome().tokens()).isEqualTo(50);
    assertThat(outcome(h)).isEqualTo(end.outcome());
    assertThat(h.state()).isEqualTo(State.DONE);
  }

  @Test
  void cancelBeforeReading_readerGetsCancelledNotNotFound() throws Exception {
    CountDownLatch started = new CountDownLatch(1);
    StreamHandle h = manager.submit(TestStreams.sendsForever(started));
    assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();

    assertThat(h.cancel()).isTrue();

    // Seed bug #2: the record must still be there for the client that cancelled and then reads.
    StreamHandle found = manager.find(h.id()).orElseThrow();
    List<StreamEvent> events;
    try (StreamReader r = found.attach()) {
      events = drain(r);
    }
    StreamEvent.Terminal end = terminal(events);
    assertThat(end.status()).isEqualTo(Status.CANCELLED);
    assertThat(texts(events)).hasSize((int) end.outcome().tokens());
    assertSequential(events, 1);
  }

  @Test
  void cancelMidStream_readerGetsTokensSentBeforeThenCancelled() throws Exception {
    CountDownLatch started = new CountDownLatch(1);
    StreamHandle h = manager.submit(TestStreams.sendsForever(started));
    List<StreamEvent> events = new java.util.ArrayList<>();
    try (StreamReader r = h.attach()) {
      for (int i = 0; i < 10; i++) {
        events.add(r.next());
      }
      assertThat(h.cancel()).isTrue();
      // Seed bug #3: the terminal event still reaches the open reader.
      events.addAll(drain(r));
    }
    StreamEvent.Terminal end = terminal(events);
    assertThat(end.status()).isEqualTo(Status.CANCELLED);
    assertThat(end.outcome().message()).isEqualTo("cancelled");
    assertThat(texts(events)).hasSizeGreaterThanOrEqualTo(10).hasSize((int) end.outcome().tokens());
    assertSequential(events, 1);
    assertThat(outcome(h).status()).isEqualTo(Status.CANCELLED);
    assertThat(h.state()).isEqualTo(State.CANCELLED);
  }

  @Test
  void cancelAfterCompletion_returnsFalseAndReaderGetsCompleted() throws Exception {
    StreamHandle h = manager.submit(TestStreams.counting(3));
    assertThat(outcome(h).status()).isEqualTo(Status.COMPLETED);

    assertThat(h.cancel()).isFalse();

    List<StreamEvent> events;
    try (StreamReader r = h.attach()) {
      events = drain(r);
    }
    assertThat(texts(events)).containsExactly("t1", "t2", "t3");
    assertThat(terminal(events).status()).isEqualTo(Status.COMPLETED);
    assertThat(h.state()).isEqualTo(State.DONE);
  }

  @Test
  void clientDisconnect_releasesBlockedProducer_noZombieWriter() throws Exception {
    CountDownLatch started = new CountDownLatch(1);
    Thread[] producer = new Thread[1];
    StreamHandle h =
        manager.submit(
            sink -> {
              producer[0] = Thread.currentThread();
              TestStreams.sendsForever(started).run(sink);
            });
    StreamReader r = h.attach();
    r.next();
    assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
    TestStreams.awaitParked(producer[0]); // seed bug #1: blocked writing to a full buffer

    r.close(); // the client goes away

    StreamOutcome o = outcome(h);
    assertThat(o.status()).isEqualTo(Status.CANCELLED);
    assertThat(o.message()).isEqualTo("reader detached");
    assertThat(((DefaultStreamManager) manager).awaitIdle(5, TimeUnit.SECONDS)).isTrue();
    assertThat(manager.counters().running()).isZero();
  }
}
