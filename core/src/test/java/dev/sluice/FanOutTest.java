package dev.sluice;

import static dev.sluice.TestStreams.assertSequential;
import static dev.sluice.TestStreams.awaitParked;
import static dev.sluice.TestStreams.drain;
import static dev.sluice.TestStreams.outcome;
import static dev.sluice.TestStreams.terminal;
import static dev.sluice.TestStreams.texts;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.StreamOutcome.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Fan-out: several readers of one stream, each with its own cursor; slow readers bounded. */
@Timeout(20)
class FanOutTest {

  private final FakeTime time = new FakeTime();
  private StreamManager manager = build(StreamManager.builder());

  private StreamManager build(StreamManager.Builder b) {
    return b.bufferSize(4).replayWindow(4).ticker(time).scheduler(time).build();
  }

  @AfterEach
  void close() {
    manager.close();
  }

  private static CompletableFuture<List<StreamEvent>> readAsync(StreamReader r) {
    CompletableFuture<List<StreamEvent>> f = new CompletableFuture<>();
    Thread t =
        new Thread(
            () -> {
              try (r) {
                f.complete(drain(r));
              } catch (Throwable e) {
                f.completeExceptionally(e);
              }
            });
    t.start();
    return f;
  }

  @Test
  void threeConcurrentReaders_eachGetEveryTokenInOrder_thenOneTerminal() throws Exception {
    CountDownLatch attached = new CountDownLatch(1);
    StreamHandle h =
        manager.submit(
            sink -> {
              attached.await();
              TestStreams.counting(2000).run(sink);
            });
    List<CompletableFuture<List<StreamEvent>>> results = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      results.add(readAsync(h.attach()));
    }
    attached.countDown();
    for (CompletableFuture<List<StreamEvent>> f : results) {
      List<StreamEvent> events = f.get(15, TimeUnit.SECONDS);
      assertSequential(events, 1);
      assertThat(events).hasSize(2001);
      assertThat(terminal(events).outcome()).isSameAs(outcome(h));
    }
  }

  @Test
  void lateReader_replaysFromTheStart_whileAllIsRetained() throws Exception {
    CountDownLatch more = new CountDownLatch(1);
    StreamHandle h =
        manager.submit(
            sink -> {
              for (int i = 1; i <= 6; i++) {
                sink.send("t" + i);
              }
              more.await();
              sink.send("t7");
            });
    StreamReader first = h.attach();
    for (int i = 0; i < 6; i++) {
      first.next();
    }
    // A second, identical request shares this upstream call: it starts at the beginning.
    StreamReader late = h.attach();
    more.countDown();
    List<StreamEvent> lateEvents = drain(late);
    assertThat(texts(lateEvents)).containsExactly("t1", "t2", "t3", "t4", "t5", "t6", "t7");
    assertThat(texts(drain(first))).containsExactly("t7");
  }

  @Test
  void cancelPolicy_cancelsOnlyWhenTheLastReaderDetaches() throws Exception {
    CountDownLatch never = new CountDownLatch(1);
    StreamHandle h =
        manager.submit(
            sink -> {
              sink.send("a");
              never.await();
            });
    StreamReader a = h.attach();
    StreamReader b = h.attach();
    a.close();
    assertThat(h.state()).isEqualTo(StreamHandle.State.RUNNING);
    assertThat(b.next()).isEqualTo(new StreamEvent.Token(1, "a"));
    b.close();
    assertThat(outcome(h).status()).isEqualTo(Status.CANCELLED);
    assertThat(outcome(h).message()).isEqualTo("reader detached");
  }

  @Test
  void withoutSlowReaderTimeout_aSlowReaderIsPlainBackpressure() throws Exception {
    AtomicReference<Thread> producer = new AtomicReference<>();
    StreamHandle h =
        manager.submit(
            sink -> {
              producer.set(Thread.currentThread());
              TestStreams.counting(100).run(sink);
            });
    StreamReader fast = h.attach();
    StreamReader slow = h.attach();
    for (int i = 0; i < 4; i++) {
      fast.next();
    }
    awaitParked(producer);
    time.advance(Duration.ofMinutes(5));
    assertThat(fast.poll(Duration.ofMillis(20))).isNull(); // held back by `slow`, as it should be
    assertThat(slow.next().sequence()).isEqualTo(1);
    slow.close();
    assertThat(terminal(drain(fast)).status()).isEqualTo(Status.COMPLETED);
  }

  @Test
  void slowReaderDetach_cutsOnlyTheLaggard_whoGetsDetachedLast_andTheOthersGoOn() throws Exception {
    manager.close();
    manager = build(StreamManager.builder().slowReaderTimeout(Duration.ofSeconds(5)));
    AtomicReference<Thread> producer = new AtomicReference<>();
    StreamHandle h =
        manager.submit(
            sink -> {
              producer.set(Thread.currentThread());
              TestStreams.counting(50).run(sink);
            });
    StreamReader fast = h.attach();
    StreamReader slow = h.attach();
    assertThat(slow.next().sequence()).isEqualTo(1);
    for (int i = 0; i < 5; i++) {
      fast.next();
    }
    awaitParked(producer);
    time.advance(Duration.ofSeconds(4));
    assertThat(h.state()).isEqualTo(StreamHandle.State.RUNNING);
    time.advance(Duration.ofSeconds(1));

    List<StreamEvent> fastRest = drain(fast);
    assertThat(terminal(fastRest).status()).isEqualTo(Status.COMPLETED);
    assertSequential(fastRest, 6);

    StreamEvent last = slow.next();
    assertThat(last).isInstanceOf(StreamEvent.Detached.class);
    assertThat(((StreamEvent.Detached) last).sequence()).isEqualTo(1);
    assertThat(((StreamEvent.Detached) last).reason()).isEqualTo("reader too slow: held the producer back for PT5S");
    assertThat(slow.isFinished()).isTrue();
    assertThat(slow.lastSequence()).isEqualTo(1);
  }

  @Test
  void slowReaderSkip_getsAGapEventThenNewerTokens() throws Exception {
    manager.close();
    manager =
        build(
            StreamManager.builder()
                .slowReaderTimeout(Duration.ofSeconds(5))
                .slowReaderPolicy(SlowReaderPolicy.SKIP));
    CountDownLatch finish = new CountDownLatch(1);
    AtomicReference<Thread> producer = new AtomicReference<>();
    StreamHandle h =
        manager.submit(
            sink -> {
              producer.set(Thread.currentThread());
              for (int i = 1; i <= 8; i++) {
                sink.send("t" + i);
              }
              finish.await();
              sink.send("t9");
            });
    StreamReader fast = h.attach();
    StreamReader slow = h.attach();
    for (int i = 0; i < 4; i++) {
      fast.next();
    }
    awaitParked(producer); // 4 sent, 5th waits for `slow`
    time.advance(Duration.ofSeconds(5));
    for (int i = 0; i < 4; i++) {
      fast.next(); // tokens 5..8 flow once `slow` no longer holds the producer
    }
    StreamEvent gap = slow.next();
    assertThat(gap).isInstanceOf(StreamEvent.Gap.class);
    StreamEvent.Gap g = (StreamEvent.Gap) gap;
    assertThat(g.skipped()).isEqualTo(g.sequence()).isBetween(4L, 8L);
    finish.countDown();
    List<StreamEvent> rest = drain(slow);
    assertSequential(rest, g.sequence() + 1);
    assertThat(terminal(rest).status()).isEqualTo(Status.COMPLETED);
    assertThat(terminal(drain(fast)).status()).isEqualTo(Status.COMPLETED);
  }

  @Test
  void loneSlowReaderCut_underCancelPolicy_cancelsTheStreamSayingWhy() throws Exception {
    manager.close();
    manager = build(StreamManager.builder().slowReaderTimeout(Duration.ofSeconds(5)));
    AtomicReference<Thread> producer = new AtomicReference<>();
    StreamHandle h =
        manager.submit(
            sink -> {
              producer.set(Thread.currentThread());
              TestStreams.counting(50).run(sink);
            });
    StreamReader only = h.attach();
    awaitParked(producer);
    time.advance(Duration.ofSeconds(5));
    StreamOutcome o = outcome(h);
    assertThat(o.status()).isEqualTo(Status.CANCELLED);
    assertThat(o.message()).startsWith("reader too slow");
    assertThat(only.next()).isInstanceOf(StreamEvent.Detached.class);
  }

  @Test
  void twoReadersRacingCancel_eachGetExactlyOneTerminal() throws Exception {
    for (int round = 0; round < 200; round++) {
      CountDownLatch bothAttached = new CountDownLatch(1);
      StreamHandle h =
          manager.submit(
              sink -> {
                bothAttached.await();
                TestStreams.sendsForever(new CountDownLatch(1)).run(sink);
              });
      CompletableFuture<List<StreamEvent>> a = readAsync(h.attach());
      CompletableFuture<List<StreamEvent>> b = readAsync(h.attach());
      bothAttached.countDown();
      if (round % 2 == 0) {
        Thread.onSpinWait(); // vary the race a little: cancel before or during the first tokens
      } else {
        Thread.sleep(0, 50_000);
      }
      h.cancel();
      for (CompletableFuture<List<StreamEvent>> f : List.of(a, b)) {
        List<StreamEvent> events = f.get(5, TimeUnit.SECONDS);
        assertSequential(events, 1);
        assertThat(terminal(events).status()).isEqualTo(Status.CANCELLED);
        assertThat(events.stream().filter(e -> e instanceof StreamEvent.Terminal)).hasSize(1);
      }
    }
  }
}
