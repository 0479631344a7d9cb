package dev.sluice;

import static dev.sluice.TestStreams.outcome;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.StreamOutcome.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.MDC;

/** Owner scoping, the listener SPI, the MDC and per-stream metrics. */
@Timeout(10)
class OwnerAndListenerTest {

  private final List<String> events = Collections.synchronizedList(new ArrayList<>());
  private final FakeTime time = new FakeTime();
  private final StreamManager manager =
      StreamManager.builder()
          .ticker(time)
          .scheduler(time)
          .deliveryExecutor(Runnable::run) // listener callbacks on the thread that ends the stream
          .listener(
              new StreamListener() {
                @Override
                public void onStart(StreamHandle stream) {
                  events.add("start");
                  throw new IllegalStateException("listener bug: contained");
                }

                @Override
                public void onFirstToken(StreamHandle stream, Duration ttft) {
                  events.add("first " + ttft);
                  throw new IllegalStateException("listener bug: contained");
                }

                @Override
                public void onTerminal(StreamHandle stream, StreamOutcome outcome) {
                  events.add("terminal " + outcome.status());
                  throw new IllegalStateException("listener bug: contained");
                }

                @Override
                public void onEvicted(StreamHandle stream) {
                  events.add("evicted");
                  throw new IllegalStateException("listener bug: contained");
                }
              })
          .build();

  @AfterEach
  void close() {
    manager.close();
  }

  @Test
  void ownedStreams_areInvisibleToOtherOwnersAndToUnscopedFind() throws Exception {
    StreamHandle alice = manager.submit("alice", TestStreams.counting(1));
    StreamHandle shared = manager.submit(TestStreams.counting(1));
    assertThat(manager.find("alice", alice.id())).contains(alice);
    assertThat(manager.find("bob", alice.id())).isEmpty();
    assertThat(manager.find(alice.id())).isEmpty();
    assertThat(manager.find(shared.id())).contains(shared);
    assertThat(manager.find("alice", shared.id())).isEmpty();
    // Not found looks exactly like unknown:
    String unknown = new StreamIds().next();
    assertThat(manager.find("bob", unknown)).isEqualTo(manager.find("bob", alice.id()));
  }

  @Test
  void listenerSeesTheLifecycle_andItsExceptionsChangeNothing() throws Exception {
    StreamHandle h =
        manager.submit(
            sink -> {
              time.advance(Duration.ofMillis(250));
              sink.send("a");
              time.advance(Duration.ofMillis(500));
              sink.send("b");
              sink.send("c");
            });
    StreamOutcome o = outcome(h);
    assertThat(o.status()).isEqualTo(Status.COMPLETED);
    assertThat(o.tokens()).isEqualTo(3);
    assertThat(events).containsExactly("start", "first PT0.25S", "terminal COMPLETED");
    assertThat(h.timeToFirstToken()).contains(Duration.ofMillis(250));
    assertThat(h.tokensPerSecond()).isEqualTo(4.0); // 2 tokens after the first, in 0.5 s
    try (StreamReader r = h.attach()) {
      TestStreams.drain(r);
    }
  }

  @Test
  void evictionIsReported_andTheStreamIdIsInTheMdcWhileTheSourceRuns() throws Exception {
    AtomicReference<String> mdc = new AtomicReference<>();
    StreamHandle h = manager.submit(sink -> mdc.set(MDC.get("sluice.stream")));
    assertThat(outcome(h).status()).isEqualTo(Status.COMPLETED);
    assertThat(mdc.get()).isEqualTo(h.id());
    assertThat(h.timeToFirstToken()).isEmpty();
    assertThat(h.tokensPerSecond()).isZero();
    time.advance(Duration.ofSeconds(30));
    assertThat(events).endsWith("evicted");
    assertThat(manager.counters().evicted()).isEqualTo(1);
  }

  @Test
  void blankOrNullOwner_isRejectedByName() {
    assertThatThrownBy(() -> manager.submit(" ", TestStreams.counting(1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("owner must not be blank, got \" \"");
    assertThatThrownBy(() -> manager.submit((String) null, TestStreams.counting(1)))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("owner");
    assertThatThrownBy(() -> manager.find("", new StreamIds().next()))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(manager.counters().submitted()).isZero();
  }
}
