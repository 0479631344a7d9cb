package dev.sluice;

import static dev.sluice.TestStreams.drain;
import static dev.sluice.TestStreams.outcome;
import static dev.sluice.TestStreams.terminal;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.StreamOutcome.Status;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Each timeout ends the stream TIMED_OUT with a message naming it. Time is fake: timers fire only
 * when the test advances the clock, so nothing here depends on the machine's speed.
 */
@Timeout(10)
class TimeoutTest {

  private final FakeTime time = new FakeTime();
  private StreamManager manager;

  private StreamManager build(StreamManager.Builder b) {
    // Callbacks (listener, outcome) on the test's thread: deterministic.
    manager = b.scheduler(time).ticker(time).deliveryExecutor(Runnable::run).build();
    return manager;
  }

  @AfterEach
  void close() {
    if (manager != null) {
      manager.close();
    }
  }

  /** A source that sends on demand from the test thread. */
  private static final class Remote implements TokenSource {
    final AtomicReference<TokenSink> sink = new AtomicReference<>();
    final CountDownLatch started = new CountDownLatch(1);
    final CountDownLatch finish = new CountDownLatch(1);

    @Override
    public void run(TokenSink s) throws Exception {
      sink.set(s);
      started.countDown();
      finish.await();
    }

    TokenSink awaitSink() throws InterruptedException {
      assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
      return sink.get();
    }
  }

  @Test
  void firstTokenTimeout_firesOnlyBeforeTheFirstToken() throws Exception {
    build(StreamManager.builder().firstTokenTimeout(Duration.ofSeconds(5)));
    Remote slow = new Remote();
    StreamHandle h = manager.submit(slow);
    slow.awaitSink();
    time.advance(Duration.ofMillis(4999));
    assertThat(h.state()).isEqualTo(StreamHandle.State.RUNNING);
    time.advance(Duration.ofMillis(1));
    StreamOutcome o = outcome(h);
    assertThat(o.status()).isEqualTo(Status.TIMED_OUT);
    assertThat(o.message()).isEqualTo("no first token within PT5S");

    Remote fast = new Remote();
    StreamHandle h2 = manager.submit(fast);
    fast.awaitSink().send("hello");
    StreamReader reader = h2.attach(); // else the default 60 s no-reader timeout would fire
    time.advance(Duration.ofMinutes(1));
    assertThat(h2.state()).isEqualTo(StreamHandle.State.RUNNING);
    h2.cancel();
    reader.close();
  }

  @Test
  void idleTimeout_measuresTheGapSinceTheLastToken() throws Exception {
    build(StreamManager.builder().idleTimeout(Duration.ofSeconds(2)));
    Remote r = new Remote();
    StreamHandle h = manager.submit(r);
    TokenSink sink = r.awaitSink();
    sink.send("a");
    time.advance(Duration.ofMillis(1500));
    sink.send("b");
    time.advance(Duration.ofMillis(1500)); // 3 s after "a", 1.5 s after "b"
    assertThat(h.state()).isEqualTo(StreamHandle.State.RUNNING);
    time.advance(Duration.ofMillis(500));
    StreamOutcome o = outcome(h);
    assertThat(o.status()).isEqualTo(Status.TIMED_OUT);
    assertThat(o.message()).contains("idle timeout").contains("PT2S");
    assertThat(o.tokens()).isEqualTo(2);
  }

  @Test
  void deadline_countsFromSubmitIncludingTheQueue() throws Exception {
    build(StreamManager.builder().maxRunning(1).deadline(Duration.ofSeconds(10)));
    Remote first = new Remote();
    StreamHandle running = manager.submit(first);
    first.awaitSink();
    StreamHandle queued = manager.submit(sink -> sink.send("never"));
    assertThat(manager.counters().queued()).isEqualTo(1);
    time.advance(Duration.ofSeconds(10));
    assertThat(outcome(queued).status()).isEqualTo(Status.TIMED_OUT);
    assertThat(outcome(queued).tokens()).isZero();
    assertThat(outcome(running).status()).isEqualTo(Status.TIMED_OUT);
    assertThat(manager.counters().queued()).isZero();
  }

  @Test
  void noReaderTimeout_endsAStreamNobodyAttachedTo_butNotOneBeingRead() throws Exception {
    build(StreamManager.builder().noReaderTimeout(Duration.ofSeconds(30)));
    StreamHandle unread = manager.submit(TestStreams.counting(1000));
    StreamHandle read = manager.submit(TestStreams.counting(1000));
    StreamReader reader = read.attach();
    time.advance(Duration.ofSeconds(30));
    StreamOutcome o = outcome(unread);
    assertThat(o.status()).isEqualTo(Status.TIMED_OUT);
    assertThat(o.message()).isEqualTo("no reader attached for PT30S");
    assertThat(read.state()).isEqualTo(StreamHandle.State.RUNNING);
    assertThat(terminal(drain(reader)).status()).isEqualTo(Status.COMPLETED);
  }

  @Test
  void keepRunningDetach_noReaderTimeoutIsTheGracePeriod() throws Exception {
    build(
        StreamManager.builder()
            .detachPolicy(DetachPolicy.KEEP_RUNNING)
            .noReaderTimeout(Duration.ofSeconds(20)));
    Remote r = new Remote();
    StreamHandle h = manager.submit(r);
    r.awaitSink().send("a");
    StreamReader first = h.attach();
    assertThat(first.next().sequence()).isEqualTo(1);
    time.advance(Duration.ofMinutes(5)); // attached: no timeout however long
    first.close();
    assertThat(h.state()).isEqualTo(StreamHandle.State.RUNNING);
    time.advance(Duration.ofSeconds(19));
    try (StreamReader again = h.attach(1)) { // resumed within the grace period
      time.advance(Duration.ofMinutes(5));
      assertThat(h.state()).isEqualTo(StreamHandle.State.RUNNING);
    }
    time.advance(Duration.ofSeconds(20));
    assertThat(outcome(h).status()).isEqualTo(Status.TIMED_OUT);
  }

  @Test
  void retention_removesAnUnreadEndedStreamExactlyOnce_andNotifiesEviction() throws Exception {
    int[] evictions = new int[1];
    build(
        StreamManager.builder()
            .retention(Duration.ofSeconds(30))
            .listener(
                new StreamListener() {
                  @Override
                  public void onEvicted(StreamHandle stream) {
                    evictions[0]++;
                  }
                }));
    StreamHandle h = manager.submit(TestStreams.counting(3));
    assertThat(outcome(h).status()).isEqualTo(Status.COMPLETED);
    assertThat(manager.counters().retained()).isEqualTo(1);
    time.advance(Duration.ofSeconds(29));
    assertThat(manager.find(h.id())).contains(h); // still there to be picked up
    time.advance(Duration.ofSeconds(1));
    assertThat(manager.find(h.id())).isEmpty();
    time.advance(Duration.ofMinutes(5));
    StreamCounters c = manager.counters();
    assertThat(c.retained()).isZero();
    assertThat(c.evicted()).isEqualTo(1);
    assertThat(evictions[0]).isEqualTo(1);
    assertThat(time.pending()).isZero(); // no timer left behind
  }

  @Test
  void deliveryOfTheTerminal_removesTheStream_andCancelsItsRetentionTimer() throws Exception {
    build(StreamManager.builder().retention(Duration.ofSeconds(30)));
    StreamHandle h = manager.submit(TestStreams.counting(3));
    assertThat(outcome(h).status()).isEqualTo(Status.COMPLETED);
    try (StreamReader r = h.attach()) {
      drain(r);
    }
    assertThat(manager.find(h.id())).isEmpty();
    assertThat(time.pending()).isZero();
    time.advance(Duration.ofMinutes(1));
    StreamCounters c = manager.counters();
    assertThat(c.retained()).isZero();
    assertThat(c.evicted()).isZero(); // removed by delivery, not by the timer
  }

  @Test
  void withoutRemoveOnDelivery_aFinishedStreamCanBeReadAgainUntilRetention() throws Exception {
    build(StreamManager.builder().removeOnDelivery(false).retention(Duration.ofSeconds(30)));
    StreamHandle h = manager.submit(TestStreams.counting(3));
    try (StreamReader r = h.attach()) {
      drain(r);
    }
    try (StreamReader again = manager.find(h.id()).orElseThrow().attach(2)) {
      assertThat(again.next()).isEqualTo(new StreamEvent.Token(3, "t3"));
      assertThat(terminal(drain(again)).status()).isEqualTo(Status.COMPLETED);
    }
    time.advance(Duration.ofSeconds(30));
    assertThat(manager.find(h.id())).isEmpty();
    assertThat(manager.counters().evicted()).isEqualTo(1);
  }

  @Test
  void sourceIgnoringCancellation_isReportedOnceAfterTheStopTimeout() throws Exception {
    build(StreamManager.builder().stopTimeout(Duration.ofSeconds(5)));
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch started = new CountDownLatch(1);
    StreamHandle h =
        manager.submit(
            sink -> {
              started.countDown();
              while (true) {
                try {
                  if (release.await(10, TimeUnit.SECONDS)) {
                    return; // stubborn: swallows interrupts until told to go
                  }
                } catch (InterruptedException ignored) {
                  // keep going
                }
              }
            });
    assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
    h.cancel();
    time.advance(Duration.ofSeconds(4));
    assertThat(manager.counters().ignoredCancellation()).isZero();
    time.advance(Duration.ofSeconds(1));
    assertThat(manager.counters().ignoredCancellation()).isEqualTo(1);
    time.advance(Duration.ofSeconds(30));
    assertThat(manager.counters().ignoredCancellation()).isEqualTo(1);
    assertThat(manager.counters().running()).isEqualTo(1); // it still holds its worker, honestly
    release.countDown();
    assertThat(((DefaultStreamManager) manager).awaitIdle(5, TimeUnit.SECONDS)).isTrue();
    assertThat(outcome(h).status()).isEqualTo(Status.CANCELLED);
  }

  @Test
  void hugeTimeoutsAndClockJumps_neitherOverflowNorSpin() throws Exception {
    build(
        StreamManager.builder()
            .deadline(Duration.ofDays(365 * 200L))
            .noReaderTimeout(Duration.ofDays(365 * 250L)));
    Remote r = new Remote();
    StreamHandle h = manager.submit(r);
    r.awaitSink();
    time.advance(Duration.ofDays(365 * 100L)); // a clock that jumps a century
    assertThat(h.state()).isEqualTo(StreamHandle.State.RUNNING);
    assertThat(time.pending()).isEqualTo(1); // one timer entry, not a re-arming loop
    time.advance(Duration.ofDays(365 * 100L));
    StreamOutcome o = outcome(h);
    assertThat(o.status()).isEqualTo(Status.TIMED_OUT);
    assertThat(o.message()).contains("deadline");
  }
}
