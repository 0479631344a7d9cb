package dev.sluice.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.StreamEvent;
import dev.sluice.StreamHandle;
import dev.sluice.StreamManager;
import dev.sluice.StreamOutcome;
import dev.sluice.StreamReader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The built-in fake model: deterministic answers, and a source that stops when cancelled. */
@Timeout(10)
class FakeLlmTest {

  @Test
  void answer_isDeterministicAndHasTheConfiguredLength() {
    FakeLlm llm = new FakeLlm(10, Duration.ZERO, 25);

    assertThat(llm.answer("why?")).hasSize(25).isEqualTo(llm.answer("why?")).startsWith("You", " asked");
    assertThat(llm.answer("why?")).isNotEqualTo(llm.answer("how?"));
    assertThat(String.join("", llm.answer("why?"))).startsWith("You asked \"why?\".");
  }

  @Test
  void source_streamsTheAnswerThenCompletes() throws Exception {
    FakeLlm llm = new FakeLlm(1000, Duration.ZERO, 30);
    try (StreamManager manager = StreamManager.builder().build()) {
      StreamHandle h = manager.submit(llm.source("why?"));
      List<String> tokens = new ArrayList<>();
      StreamEvent e;
      try (StreamReader r = h.attach()) {
        for (e = r.next(); e instanceof StreamEvent.Token; e = r.next()) {
          tokens.add(((StreamEvent.Token) e).text());
        }
      }
      assertThat(tokens).isEqualTo(llm.answer("why?"));
      assertThat(((StreamEvent.Terminal) e).status()).isEqualTo(StreamOutcome.Status.COMPLETED);
    }
  }

  @Test
  void source_stopsPromptlyWhenCancelledWhileWaiting() throws Exception {
    FakeLlm llm = new FakeLlm(1, Duration.ofSeconds(30), 5); // would take half a minute
    try (StreamManager manager = StreamManager.builder().stopTimeout(Duration.ofSeconds(1)).build()) {
      StreamHandle h = manager.submit(llm.source("why?"));
      Thread.sleep(50);

      assertThat(h.cancel()).isTrue();

      assertThat(h.outcome().toCompletableFuture().get(5, TimeUnit.SECONDS).status())
          .isEqualTo(StreamOutcome.Status.CANCELLED);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (manager.counters().running() > 0 && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(manager.counters().running()).isZero();
      assertThat(manager.counters().ignoredCancellation()).isZero();
    }
  }

  @Test
  void constructor_rejectsBadSettings() {
    assertThatThrownBy(() -> new FakeLlm(0, Duration.ZERO, 1)).hasMessageContaining("tokensPerSecond");
    assertThatThrownBy(() -> new FakeLlm(1, Duration.ofMillis(-1), 1)).hasMessageContaining("firstTokenDelay");
    assertThatThrownBy(() -> new FakeLlm(1, Duration.ZERO, 0)).hasMessageContaining("tokens");
  }
}
