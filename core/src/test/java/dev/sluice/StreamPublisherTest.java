package dev.sluice;

import static dev.sluice.TestStreams.outcome;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.StreamOutcome.Status;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What the TCK does not check: how a stream's end maps onto Flow signals, and cancel = detach. */
@Timeout(10)
class StreamPublisherTest {

  private final StreamManager manager = StreamManager.builder().build();

  @AfterEach
  void close() {
    manager.close();
  }

  /** Records signals; requests {@code batch} at a time. */
  static class Recorder implements Flow.Subscriber<StreamEvent> {
    final List<StreamEvent> items = Collections.synchronizedList(new ArrayList<>());
    final CompletableFuture<Throwable> end = new CompletableFuture<>(); // null = onComplete
    final long batch;
    volatile Flow.Subscription subscription;

    Recorder(long batch) {
      this.batch = batch;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
      subscription = s;
      s.request(batch);
    }

    @Override
    public void onNext(StreamEvent item) {
      items.add(item);
      if (items.size() % batch == 0) {
        subscription.request(batch);
      }
    }

    @Override
    public void onError(Throwable t) {
      end.complete(t);
    }

    @Override
    public void onComplete() {
      end.complete(null);
    }
  }

  @Test
  void completedStream_allTokensInOrder_thenOnComplete() throws Exception {
    StreamHandle h = manager.submit(TestStreams.counting(500));
    Recorder r = new Recorder(7);
    h.publisher().subscribe(r);
    assertThat(r.end.get(5, TimeUnit.SECONDS)).isNull();
    assertThat(r.items).hasSize(500);
    TestStreams.assertSequential(r.items, 1);
  }

  @Test
  void cancelledStream_onErrorCarriesTheCancelledTerminal() throws Exception {
    CountDownLatch sent = new CountDownLatch(1);
    StreamHandle h =
        manager.submit(
            sink -> {
              sink.send("a");
              sent.countDown();
              new CountDownLatch(1).await();
            });
    Recorder r = new Recorder(Long.MAX_VALUE);
    h.publisher().subscribe(r);
    assertThat(sent.await(5, TimeUnit.SECONDS)).isTrue();
    h.cancel();
    Throwable t = r.end.get(5, TimeUnit.SECONDS);
    assertThat(t).isInstanceOf(StreamEndedException.class);
    StreamEndedException e = (StreamEndedException) t;
    assertThat(e.outcome()).get().extracting(StreamOutcome::status).isEqualTo(Status.CANCELLED);
    assertThat(e.lastEvent().sequence()).isEqualTo(2);
    assertThat(e).hasMessage("stream " + h.id() + " ended CANCELLED: cancelled");
    assertThat(r.items).containsExactly(new StreamEvent.Token(1, "a"));
  }

  @Test
  void failedStream_onErrorKeepsTheSourcesCause() throws Exception {
    IllegalStateException boom = new IllegalStateException("boom");
    StreamHandle h =
        manager.submit(
            sink -> {
              throw boom;
            });
    Recorder r = new Recorder(1);
    h.publisher().subscribe(r);
    Throwable t = r.end.get(5, TimeUnit.SECONDS);
    assertThat(t).isInstanceOf(StreamEndedException.class).hasCause(boom);
    assertThat(((StreamEndedException) t).outcome().orElseThrow().status()).isEqualTo(Status.FAILED);
  }

  @Test
  void subscriptionCancel_isAReaderDetach_theLastOneCancelsTheStream() throws Exception {
    CountDownLatch never = new CountDownLatch(1);
    StreamHandle h =
        manager.submit(
            sink -> {
              sink.send("a");
              never.await();
            });
    Recorder first = new Recorder(1);
    Recorder second = new Recorder(1);
    h.publisher().subscribe(first);
    h.publisher().subscribe(second);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while ((first.items.isEmpty() || second.items.isEmpty()) && System.nanoTime() < deadline) {
      Thread.sleep(1);
    }
    first.subscription.cancel();
    assertThat(h.state()).isEqualTo(StreamHandle.State.RUNNING);
    second.subscription.cancel();
    assertThat(outcome(h).status()).isEqualTo(Status.CANCELLED);
    assertThat(outcome(h).message()).isEqualTo("reader detached");
    assertThat(first.end).isNotDone(); // no signal after cancel
  }

  @Test
  void noDemand_noTokens_butTheEndStillArrives() throws Exception {
    StreamHandle h = manager.submit(TestStreams.counting(0));
    Recorder r = new Recorder(1) {
      @Override
      public void onSubscribe(Flow.Subscription s) {
        subscription = s; // requests nothing
      }
    };
    h.publisher().subscribe(r);
    assertThat(r.end.get(5, TimeUnit.SECONDS)).isNull();
    assertThat(r.items).isEmpty();
  }
}
