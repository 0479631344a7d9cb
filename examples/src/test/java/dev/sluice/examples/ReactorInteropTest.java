package dev.sluice.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.StreamEndedException;
import dev.sluice.StreamEvent;
import dev.sluice.StreamHandle;
import dev.sluice.StreamManager;
import dev.sluice.StreamOutcome;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import reactor.adapter.JdkFlowAdapter;
import reactor.core.publisher.Flux;

/** A framework adapter's view: a Sluice stream consumed as a Reactor Flux through JdkFlowAdapter. */
@Timeout(20)
class ReactorInteropTest {

  private final StreamManager streams = StreamManager.builder().build();

  @AfterEach
  void close() {
    streams.close();
  }

  private static Flux<String> tokens(StreamHandle handle) {
    return JdkFlowAdapter.flowPublisherToFlux(handle.publisher())
        .ofType(StreamEvent.Token.class)
        .map(StreamEvent.Token::text);
  }

  @Test
  void completedStream_isACompletedFlux_withBackpressureFromLimitRate() {
    FakeLlm llm = new FakeLlm(2_000, Duration.ZERO, 40);
    StreamHandle handle = streams.submit(llm.source("hi"));
    List<String> words = tokens(handle).limitRate(3).collectList().block(Duration.ofSeconds(10));
    assertThat(words).isEqualTo(llm.answer("hi"));
  }

  @Test
  void cancelledStream_isAnErrorThatSaysCancelled_notACompletion() throws Exception {
    CountDownLatch sent = new CountDownLatch(1);
    StreamHandle handle =
        streams.submit(
            sink -> {
              sink.send("partial ");
              sent.countDown();
              new CountDownLatch(1).await();
            });
    Flux<String> flux = tokens(handle);
    Thread canceller =
        new Thread(
            () -> {
              try {
                sent.await();
              } catch (InterruptedException e) {
                return;
              }
              handle.cancel();
            });
    canceller.start();
    Throwable error =
        flux.materialize()
            .filter(s -> s.isOnError())
            .map(s -> s.getThrowable())
            .blockLast(Duration.ofSeconds(10));
    assertThat(error).isInstanceOf(StreamEndedException.class);
    assertThat(((StreamEndedException) error).outcome())
        .get()
        .extracting(StreamOutcome::status)
        .isEqualTo(StreamOutcome.Status.CANCELLED);
    canceller.join();
  }

  @Test
  void disposingTheFlux_detachesTheReader_andCancelsTheUpstream() throws Exception {
    CountDownLatch hookRan = new CountDownLatch(1);
    StreamHandle handle =
        streams.submit(
            sink -> {
              sink.onCancel(hookRan::countDown); // the provider's HTTP call would close here
              for (int i = 0; ; i++) {
                sink.send("t" + i + " ");
              }
            });
    String first = tokens(handle).take(5).blockLast(Duration.ofSeconds(10));
    assertThat(first).isEqualTo("t4 ");
    assertThat(hookRan.await(5, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    assertThat(handle.outcome().toCompletableFuture().get().status())
        .isEqualTo(StreamOutcome.Status.CANCELLED);
  }
}
