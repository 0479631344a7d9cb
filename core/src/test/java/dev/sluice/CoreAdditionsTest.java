package dev.sluice;

import static dev.sluice.TestStreams.drain;
import static dev.sluice.TestStreams.outcome;
import static dev.sluice.TestStreams.terminal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.StreamOutcome.Status;
import dev.sluice.StreamPublisherTest.Recorder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The core additions for real applications (issue 13): token kinds, source-reported usage, finish
 * reason and metadata, submit attributes, several listeners, the submit callback and queue wait, a
 * resumable Flow view, and what a callback-driven source may do after run returned.
 */
@Timeout(10)
class CoreAdditionsTest {

  private final FakeTime time = new FakeTime();
  private final List<String> events = Collections.synchronizedList(new ArrayList<>());
  private StreamManager manager =
      StreamManager.builder().bufferSize(4).replayWindow(4).removeOnDelivery(false).build();

  @AfterEach
  void close() {
    manager.close();
  }

  // ------------------------------------------------------------------ token kinds

  @Test
  void send_withKinds_readerSeesEachKindInOneDenseSequence() throws Exception {
    StreamHandle h =
        manager.submit(
            sink -> {
              sink.send(TokenKind.REASONING, "thinking");
              sink.send("Hello");
              sink.send(TokenKind.TOOL_CALL, "{\"index\":0,\"name\":\"get_weather\"}");
              sink.send(TokenKind.TEXT, " world");
            });
    List<StreamEvent> events;
    try (StreamReader r = h.attach()) {
      events = drain(r);
    }
    assertThat(events.subList(0, 4))
        .containsExactly(
            new StreamEvent.Token(1, TokenKind.REASONING, "thinking"),
            new StreamEvent.Token(2, TokenKind.TEXT, "Hello"),
            new StreamEvent.Token(3, TokenKind.TOOL_CALL, "{\"index\":0,\"name\":\"get_weather\"}"),
            new StreamEvent.Token(4, "  world".substring(1)));
    assertThat(terminal(events).sequence()).isEqualTo(5);
    // A resume keeps the kinds.
    try (StreamReader again = h.attach(2)) {
      assertThat(again.next()).isEqualTo(new StreamEvent.Token(3, TokenKind.TOOL_CALL, "{\"index\":0,\"name\":\"get_weather\"}"));
    }
  }

  @Test
  void send_nullKindOrText_isRejectedByName_andNothingIsPublished() throws Exception {
    AtomicReference<Throwable> kindError = new AtomicReference<>();
    AtomicReference<Throwable> textError = new AtomicReference<>();
    StreamHandle h =
        manager.submit(
            sink -> {
              try {
                sink.send(null, "x");
              } catch (NullPointerException e) {
                kindError.set(e);
              }
              try {
                sink.send(TokenKind.REASONING, null);
              } catch (NullPointerException e) {
                textError.set(e);
              }
              sink.send("ok");
            });
    assertThat(outcome(h).tokens()).isEqualTo(1);
    assertThat(kindError.get()).hasMessage("kind");
    assertThat(textError.get()).hasMessage("token");
  }

  @Test
  void tokenRecord_twoArgumentConstructorIsText_andNullKindIsRejected() {
    assertThat(new StreamEvent.Token(7, "a").kind()).isEqualTo(TokenKind.TEXT);
    assertThatThrownBy(() -> new StreamEvent.Token(1, null, "a"))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("kind");
  }

  // ------------------------------------------------------------------ usage, finish reason, metadata

  @Test
  void reports_reachTheOutcome_andTheListener_lastUsageWins() throws Exception {
    AtomicReference<StreamOutcome> seen = new AtomicReference<>();
    manager.close();
    manager =
        StreamManager.builder()
            .deliveryExecutor(Runnable::run)
            .listener(
                new StreamListener() {
                  @Override
                  public void onTerminal(StreamHandle stream, StreamOutcome outcome) {
                    seen.set(outcome);
                  }
                })
            .build();
    StreamHandle h =
        manager.submit(
            sink -> {
              sink.send("a");
              sink.reportUsage(10, 1);
              sink.reportUsage(12, 3);
              sink.reportFinishReason("stop");
              sink.putMetadata("response.model", "gpt-x-2026");
              sink.putMetadata("response.id", "chatcmpl-1");
            });
    StreamOutcome o = outcome(h);
    assertThat(o.status()).isEqualTo(Status.COMPLETED);
    assertThat(o.usage()).isEqualTo(new StreamOutcome.Usage(12, 3));
    assertThat(o.usage().totalTokens()).isEqualTo(15);
    assertThat(o.finishReason()).isEqualTo("stop");
    assertThat(o.metadata())
        .containsExactlyInAnyOrderEntriesOf(
            Map.of("response.model", "gpt-x-2026", "response.id", "chatcmpl-1"));
    assertThat(seen.get()).isEqualTo(o);
    assertThatThrownBy(() -> o.metadata().put("x", "y")).isInstanceOf(UnsupportedOperationException.class);
  }

  @Test
  void reports_afterTheEnd_areIgnored_andACancelledOutcomeKeepsWhatCameBefore() throws Exception {
    CountDownLatch reported = new CountDownLatch(1);
    CountDownLatch cancelled = new CountDownLatch(1);
    AtomicReference<TokenSink> leaked = new AtomicReference<>();
    StreamHandle h =
        manager.submit(
            sink -> {
              leaked.set(sink);
              sink.reportUsage(5, 0);
              reported.countDown();
              cancelled.await(5, TimeUnit.SECONDS);
            });
    assertThat(reported.await(5, TimeUnit.SECONDS)).isTrue();
    assertThat(h.cancel()).isTrue();
    cancelled.countDown();
    StreamOutcome o = outcome(h);
    assertThat(o.status()).isEqualTo(Status.CANCELLED);
    assertThat(o.usage()).isEqualTo(new StreamOutcome.Usage(5, 0));
    leaked.get().reportUsage(99, 99); // ignored: the outcome is fixed
    leaked.get().reportFinishReason("late");
    leaked.get().putMetadata("late", "x");
    assertThat(outcome(h)).isEqualTo(o);
  }

  @Test
  void reports_badValues_areRejectedNamingTheValue_andTheStreamGoesOn() throws Exception {
    List<String> errors = Collections.synchronizedList(new ArrayList<>());
    StreamHandle h =
        manager.submit(
            sink -> {
              Runnable[] bad = {
                () -> sink.reportUsage(-1, 0),
                () -> sink.reportUsage(0, Long.MIN_VALUE),
                () -> sink.reportFinishReason(" "),
                () -> sink.reportFinishReason("x".repeat(257)),
                () -> sink.putMetadata("", "v"),
                () -> sink.putMetadata("k".repeat(129), "v"),
                () -> sink.putMetadata("k", "v".repeat(1025)),
              };
              for (Runnable r : bad) {
                try {
                  r.run();
                  errors.add("accepted");
                } catch (IllegalArgumentException e) {
                  errors.add(e.getMessage());
                }
              }
              for (int i = 0; i < 32; i++) {
                sink.putMetadata("k" + i, "v");
              }
              sink.putMetadata("k0", "replaced"); // an existing key may be replaced
              try {
                sink.putMetadata("k32", "v");
                errors.add("accepted");
              } catch (IllegalArgumentException e) {
                errors.add(e.getMessage());
              }
              sink.send("still running");
            });
    StreamOutcome o = outcome(h);
    assertThat(o.status()).isEqualTo(Status.COMPLETED);
    assertThat(o.tokens()).isEqualTo(1);
    assertThat(errors)
        .doesNotContain("accepted")
        .hasSize(8)
        .anySatisfy(m -> assertThat(m).contains("input -1"))
        .anySatisfy(m -> assertThat(m).contains("at most 256 characters"))
        .anySatisfy(m -> assertThat(m).contains("\"k32\" would be the 33rd"));
    assertThat(o.metadata()).hasSize(32).containsEntry("k0", "replaced");
    assertThat(o.usage()).isNull();
    assertThat(o.finishReason()).isNull();
  }

  // ------------------------------------------------------------------ attributes, listeners, queue wait

  @Test
  void attributes_areOnTheHandle_copiedAndUnmodifiable() throws Exception {
    Map<String, String> given = new HashMap<>(Map.of("gen_ai.request.model", "m", "gen_ai.provider.name", "openai"));
    StreamHandle h = manager.submit("alice", given, TestStreams.counting(1));
    given.put("later", "x");
    assertThat(h.attributes()).isEqualTo(Map.of("gen_ai.request.model", "m", "gen_ai.provider.name", "openai"));
    assertThatThrownBy(() -> h.attributes().put("x", "y")).isInstanceOf(UnsupportedOperationException.class);
    assertThat(manager.submit(TestStreams.counting(1)).attributes()).isEmpty();
    assertThat(manager.find("alice", h.id())).contains(h);
  }

  @Test
  void attributes_badEntries_areRejectedByName_andNothingIsSubmitted() {
    Map<String, String> nullValue = new HashMap<>();
    nullValue.put("k", null);
    Map<String, String> nullKey = new HashMap<>();
    nullKey.put(null, "v");
    Map<String, String> tooMany = new HashMap<>();
    for (int i = 0; i < 33; i++) {
      tooMany.put("k" + i, "v");
    }
    assertThatThrownBy(() -> manager.submit((Map<String, String>) null, TestStreams.counting(1)))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("attributes");
    assertThatThrownBy(() -> manager.submit(nullValue, TestStreams.counting(1)))
        .hasMessage("attribute \"k\" must have a value of at most 1024 characters, got null");
    assertThatThrownBy(() -> manager.submit(nullKey, TestStreams.counting(1)))
        .hasMessage("attribute keys must be non-blank and at most 128 characters, got null");
    assertThatThrownBy(() -> manager.submit(Map.of(" ", "v"), TestStreams.counting(1)))
        .hasMessage("attribute keys must be non-blank and at most 128 characters, got \" \"");
    assertThatThrownBy(() -> manager.submit(Map.of("k", "v".repeat(1025)), TestStreams.counting(1)))
        .hasMessage("attribute \"k\" must have a value of at most 1024 characters, got 1025 characters");
    assertThatThrownBy(() -> manager.submit(tooMany, TestStreams.counting(1)))
        .hasMessage("attributes must have at most 32 entries, got 33");
    assertThatThrownBy(() -> manager.submit(" ", Map.of(), TestStreams.counting(1)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(manager.counters().submitted()).isZero();
  }

  @Test
  void severalListeners_allSeeEveryEventInOrder_andOneThatThrowsStopsNoOther() throws Exception {
    manager.close();
    manager =
        StreamManager.builder()
            .ticker(time)
            .scheduler(time)
            .deliveryExecutor(Runnable::run)
            .maxRunning(1)
            .listener(recording("A", true))
            .listener(recording("B", false))
            .build();
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch started = new CountDownLatch(1);
    StreamHandle first =
        manager.submit(
            sink -> {
              started.countDown();
              release.await(5, TimeUnit.SECONDS);
            });
    assertThat(started.await(5, TimeUnit.SECONDS)).isTrue(); // before the clock moves
    StreamHandle queued =
        manager.submit(
            sink -> {
              sink.send("x");
            });
    assertThat(queued.queueWait()).isEmpty(); // not started
    time.advance(Duration.ofMillis(300));
    release.countDown();
    assertThat(outcome(queued).status()).isEqualTo(Status.COMPLETED);
    assertThat(outcome(first).status()).isEqualTo(Status.COMPLETED);
    assertThat(queued.queueWait()).contains(Duration.ofMillis(300));
    assertThat(first.queueWait()).contains(Duration.ZERO);
    List<String> forQueued = new ArrayList<>();
    for (String e : events) {
      if (e.contains(queued.id())) {
        forQueued.add(e.replace(queued.id(), "q"));
      }
    }
    assertThat(forQueued)
        .containsExactly(
            "A submit q", "B submit q", "A start q", "B start q", "A first q", "B first q",
            "A terminal q COMPLETED", "B terminal q COMPLETED");
  }

  private StreamListener recording(String name, boolean throwing) {
    return new StreamListener() {
      private void record(String e) {
        events.add(name + " " + e);
        if (throwing) {
          throw new IllegalStateException("listener " + name + " is broken");
        }
      }

      @Override
      public void onSubmit(StreamHandle stream) {
        record("submit " + stream.id());
      }

      @Override
      public void onStart(StreamHandle stream) {
        record("start " + stream.id());
      }

      @Override
      public void onFirstToken(StreamHandle stream, Duration timeToFirstToken) {
        record("first " + stream.id());
      }

      @Override
      public void onTerminal(StreamHandle stream, StreamOutcome outcome) {
        record("terminal " + stream.id() + " " + outcome.status());
      }
    };
  }

  @Test
  void onSubmit_runsOnTheSubmittingThread_beforeSubmitReturns() {
    AtomicReference<Thread> thread = new AtomicReference<>();
    AtomicReference<Boolean> findable = new AtomicReference<>();
    StreamManager[] self = new StreamManager[1];
    manager.close();
    manager =
        StreamManager.builder()
            .listener(
                new StreamListener() {
                  @Override
                  public void onSubmit(StreamHandle stream) {
                    thread.set(Thread.currentThread());
                    findable.set(self[0].find(stream.id()).isPresent());
                  }
                })
            .build();
    self[0] = manager;
    manager.submit(TestStreams.counting(1));
    assertThat(thread.get()).isSameAs(Thread.currentThread());
    assertThat(findable.get()).isTrue();
  }

  // ------------------------------------------------------------------ resumable Flow view

  @Test
  void publisherFromASequence_resumesAfterIt() throws Exception {
    StreamHandle h = manager.submit(TestStreams.counting(6));
    try (StreamReader first = h.attach()) {
      drain(first); // the producer waits for a reader: read it all once
    }
    Recorder r = new Recorder(2);
    h.publisher(3).subscribe(r);
    assertThat(r.end.get(5, TimeUnit.SECONDS)).isNull();
    assertThat(r.items)
        .containsExactly(
            new StreamEvent.Token(4, "t4"), new StreamEvent.Token(5, "t5"), new StreamEvent.Token(6, "t6"));
  }

  @Test
  void publisherFromASequence_badPositions_failTheSubscriberLikeAttach() throws Exception {
    StreamHandle h = manager.submit(TestStreams.counting(40));
    try (StreamReader first = h.attach()) {
      drain(first);
    }
    assertThatThrownBy(() -> h.publisher(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("lastSequence must be >= 0, got -1");
    for (long bad : new long[] {41, 42, Long.MAX_VALUE, 1}) {
      Recorder r = new Recorder(1);
      h.publisher(bad).subscribe(r);
      Throwable end = r.end.get(5, TimeUnit.SECONDS);
      Throwable expected = null;
      try {
        h.attach(bad).close();
      } catch (RuntimeException e) {
        expected = e;
      }
      assertThat(expected).as("attach(%d) must fail too", bad).isNotNull();
      assertThat(end).as("publisher(%d)", bad).isInstanceOf(expected.getClass()).hasMessage(expected.getMessage());
      assertThat(r.items).isEmpty();
    }
  }

  // ------------------------------------------------------------------ callback sources after run

  @Test
  void callbackAfterRunReturned_sendThrowsAtOnce_isCancelledIsTrue_nothingIsAdded() throws Exception {
    AtomicReference<TokenSink> leaked = new AtomicReference<>();
    StreamHandle h =
        manager.submit(
            sink -> {
              leaked.set(sink);
              sink.send("a");
            });
    assertThat(outcome(h).status()).isEqualTo(Status.COMPLETED);
    TokenSink sink = leaked.get();
    assertThat(sink.isCancelled()).isTrue();
    for (int i = 0; i < 100; i++) { // more than the buffer: it must never block
      assertThatThrownBy(() -> sink.send("late"))
          .isInstanceOfSatisfying(
              StreamCancelledException.class, e -> assertThat(e.status()).isEqualTo(Status.COMPLETED));
      assertThatThrownBy(() -> sink.send(TokenKind.REASONING, "late"))
          .isInstanceOf(StreamCancelledException.class);
    }
    try (StreamReader r = h.attach()) {
      List<StreamEvent> events = drain(r);
      assertThat(TestStreams.texts(events)).containsExactly("a");
      assertThat(terminal(events).outcome().tokens()).isEqualTo(1);
    }
  }
}
