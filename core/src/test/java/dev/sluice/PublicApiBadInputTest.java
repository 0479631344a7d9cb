package dev.sluice;

import static dev.sluice.TestStreams.drain;
import static dev.sluice.TestStreams.outcome;
import static dev.sluice.TestStreams.terminal;
import static dev.sluice.TestStreams.texts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.StreamOutcome.Status;
import java.time.Duration;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad input to every public method of a handle, a reader, a sink and the manager that {@code
 * BadInputTest} (builder settings, {@code find}, null source) does not already cover: null, blank,
 * negative, zero, huge and out-of-range values. Each call gets a clear exception naming the parameter
 * and the value (or a documented harmless result), and afterwards the stream it was made on and the
 * manager both still work.
 */
@Timeout(10)
class PublicApiBadInputTest {

  private final FakeTime time = new FakeTime();
  private final StreamManager manager =
      StreamManager.builder().ticker(time).scheduler(time).bufferSize(4).removeOnDelivery(false).build();

  @AfterEach
  void close() {
    manager.close();
  }

  /** What a row gets to misuse. */
  final class Fixture {
    /** A running stream whose source sends on demand; 2 tokens sent. */
    final StreamHandle running;
    /** A stream completed with 2 tokens. */
    final StreamHandle ended;
    final TokenSink sink;
    final CountDownLatch finish = new CountDownLatch(1);
    final StreamManager manager = PublicApiBadInputTest.this.manager;

    Fixture() throws Exception {
      AtomicReference<TokenSink> s = new AtomicReference<>();
      CountDownLatch started = new CountDownLatch(1);
      running =
          manager.submit(
              "alice",
              k -> {
                k.send("a");
                k.send("b");
                s.set(k);
                started.countDown();
                finish.await();
              });
      assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
      sink = s.get();
      ended = manager.submit("alice", TestStreams.counting(2));
      assertThat(outcome(ended).status()).isEqualTo(Status.COMPLETED);
    }
  }

  @FunctionalInterface
  interface Call {
    void accept(Fixture f) throws Exception;
  }

  static Stream<Arguments> badCalls() {
    String id22 = new StreamIds().next();
    return Stream.of(
        // StreamHandle.attach(long)
        row("attach(-1)", f -> f.running.attach(-1), IllegalArgumentException.class, "lastSequence must be >= 0, got -1"),
        row("attach(MIN_VALUE)", f -> f.running.attach(Long.MIN_VALUE), IllegalArgumentException.class,
            "lastSequence must be >= 0, got " + Long.MIN_VALUE),
        row("attach(MAX_VALUE) running", f -> f.running.attach(Long.MAX_VALUE), IllegalArgumentException.class,
            "lastSequence " + Long.MAX_VALUE + " is beyond the last event of stream"),
        row("attach(3) running, 2 tokens", f -> f.running.attach(3), IllegalArgumentException.class, "(last token 2)"),
        row("attach(3) ended, terminal is 3", f -> f.ended.attach(3), IllegalArgumentException.class, "(terminal event 3)"),
        row("attach(4) ended", f -> f.ended.attach(4), IllegalArgumentException.class, "is beyond the last event"),
        // StreamReader
        row("poll(null)", f -> f.running.attach().poll(null), NullPointerException.class, "timeout"),
        row("next() after close", f -> {
          StreamReader r = f.running.attach();
          r.close();
          r.next();
        }, IllegalStateException.class, "is closed"),
        row("poll(1s) after close", f -> {
          StreamReader r = f.running.attach();
          r.close();
          r.poll(Duration.ofSeconds(1));
        }, IllegalStateException.class, "is closed"),
        row("next() after the terminal", f -> {
          try (StreamReader r = f.ended.attach(2)) {
            r.next();
            r.next();
          }
        }, NoSuchElementException.class, f -> null),
        // TokenSink
        row("send(null)", f -> f.sink.send(null), NullPointerException.class, "token"),
        row("onCancel(null)", f -> f.sink.onCancel(null), NullPointerException.class, "hook"),
        // StreamManager with owners
        row("find(null owner)", f -> f.manager.find(null, id22), NullPointerException.class, "owner"),
        row("find(blank owner)", f -> f.manager.find(" \t", id22), IllegalArgumentException.class,
            "owner must not be blank"),
        row("find(owner, null id)", f -> f.manager.find("alice", null), NullPointerException.class, "id"),
        row("find(owner, 22 non-ASCII chars)", f -> f.manager.find("alice", "é".repeat(22)),
            IllegalArgumentException.class, "URL-safe base64"),
        row("submit(blank owner)", f -> f.manager.submit("\n", TestStreams.counting(1)),
            IllegalArgumentException.class, "owner must not be blank"));
  }

  private static Arguments row(String name, Call call, Class<? extends Throwable> type, String message) {
    return Arguments.of(name, call, type, (java.util.function.Function<Fixture, String>) f -> message);
  }

  private static Arguments row(
      String name, Call call, Class<? extends Throwable> type, java.util.function.Function<Fixture, String> message) {
    return Arguments.of(name, call, type, message);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badCalls")
  void publicMethod_badInput_clearExceptionAndEverythingStillWorks(
      String name, Call call, Class<? extends Throwable> type, java.util.function.Function<Fixture, String> message)
      throws Exception {
    Fixture f = new Fixture();
    String part = message.apply(f);
    if (part == null) {
      assertThatThrownBy(() -> call.accept(f)).isInstanceOf(type);
    } else {
      assertThatThrownBy(() -> call.accept(f)).isInstanceOf(type).hasMessageContaining(part);
    }
    assertIntact(f);
  }

  /** The misused streams still deliver what they hold, and the manager runs a fresh stream. */
  private void assertIntact(Fixture f) throws Exception {
    StreamCounters before = manager.counters();
    assertThat(manager.find("alice", f.running.id())).contains(f.running);
    // A reader left attached by the row is replaced by closing it: detach under CANCEL cancels,
    // so read what it holds through a resume of the ended stream and check the running one's state.
    assertThat(f.running.state()).isIn(StreamHandle.State.RUNNING, StreamHandle.State.CANCELLED);
    f.finish.countDown();
    assertThat(outcome(f.running).tokens()).isEqualTo(2);
    try (StreamReader r = f.ended.attach()) {
      java.util.List<StreamEvent> events = drain(r);
      assertThat(texts(events)).containsExactly("t1", "t2");
      assertThat(terminal(events).status()).isEqualTo(Status.COMPLETED);
    }
    StreamHandle fresh = manager.submit("bob", TestStreams.counting(1));
    try (StreamReader r = fresh.attach()) {
      assertThat(terminal(drain(r)).status()).isEqualTo(Status.COMPLETED);
    }
    assertThat(manager.counters().submitted()).isEqualTo(before.submitted() + 1);
    assertThat(manager.counters().rejected()).isZero();
  }

  // ------------------------------------------------------------------ harmless edge values

  @Test
  void poll_negativeZeroAndOverflowingTimeouts_neitherWaitNorOverflow() throws Exception {
    Fixture f = new Fixture();
    try (StreamReader r = f.running.attach(2)) {
      long start = System.nanoTime();
      assertThat(r.poll(Duration.ofSeconds(-5))).isNull(); // negative: does not wait
      assertThat(r.poll(Duration.ZERO)).isNull();
      assertThat(r.poll(Duration.ofNanos(Long.MIN_VALUE))).isNull();
      assertThat(System.nanoTime() - start).isLessThan(TimeUnit.SECONDS.toNanos(2));
      f.finish.countDown();
      // Duration.toNanos() of this throws ArithmeticException: the reader waits "forever" instead.
      StreamEvent e = r.poll(Duration.ofSeconds(Long.MAX_VALUE));
      assertThat(e).isInstanceOf(StreamEvent.Terminal.class);
      assertThat(e.sequence()).isEqualTo(3);
    }
  }

  @Test
  void readerClose_isIdempotent_andLastSequenceStaysPut() throws Exception {
    Fixture f = new Fixture();
    StreamReader r = f.ended.attach();
    r.next();
    r.close();
    r.close();
    assertThat(r.lastSequence()).isEqualTo(1);
    assertThat(r.isFinished()).isFalse();
    try (StreamReader again = f.ended.attach(1)) { // the slot was freed once, not twice
      assertThat(again.next().sequence()).isEqualTo(2);
    }
    f.finish.countDown();
  }

  @Test
  void sink_emptyAndHugeTokens_areDeliveredAsSent() throws Exception {
    // Documented limit: core does not cap token size (a token is a reference, never copied);
    // transport limits belong to the server (see the examples' ChatServer).
    String huge = "y".repeat(4 << 20);
    StreamHandle h =
        manager.submit(
            sink -> {
              assertThat(sink.streamId()).hasSize(22);
              sink.send("");
              sink.send(huge);
              sink.send("\u0000\n\r data: injected\n\n");
            });
    try (StreamReader r = h.attach()) {
      java.util.List<StreamEvent> events = drain(r);
      assertThat(texts(events)).hasSize(3);
      assertThat(texts(events).get(0)).isEmpty();
      assertThat(texts(events).get(1)).isSameAs(huge);
      assertThat(texts(events).get(2)).isEqualTo("\u0000\n\r data: injected\n\n");
    }
  }

  @Test
  void cancel_onAnEndedStream_returnsFalseAndChangesNothing() throws Exception {
    Fixture f = new Fixture();
    StreamOutcome before = outcome(f.ended);
    assertThat(f.ended.cancel()).isFalse();
    assertThat(f.ended.cancel()).isFalse();
    assertThat(outcome(f.ended)).isSameAs(before);
    assertThat(manager.counters().cancelled()).isZero();
    f.finish.countDown();
  }

  @Test
  void outcome_cannotBeCompletedOrAlteredByAClient() throws Exception {
    Fixture f = new Fixture();
    CompletableFuture<StreamOutcome> copy = f.running.outcome().toCompletableFuture();
    StreamOutcome forged = new StreamOutcome(Status.FAILED, 0, "forged", null);
    copy.complete(forged);
    copy.obtrudeValue(forged);
    assertThat(f.running.state()).isEqualTo(StreamHandle.State.RUNNING);
    f.finish.countDown();
    StreamOutcome real = outcome(f.running);
    assertThat(real.status()).isEqualTo(Status.COMPLETED);
    assertThat(real.tokens()).isEqualTo(2);
  }

  @Test
  void hugeOwner_isAcceptedAndScopesExactly() throws Exception {
    String owner = "o".repeat(1 << 20);
    StreamHandle h = manager.submit(owner, TestStreams.counting(1));
    assertThat(manager.find(owner, h.id())).contains(h);
    assertThat(manager.find(owner + "o", h.id())).isEmpty();
    assertThat(manager.find(owner.substring(1), h.id())).isEmpty();
    assertThat(outcome(h).status()).isEqualTo(Status.COMPLETED);
  }
}
