package dev.sluice;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.argThat;
import static org.mockito.Mockito.inOrder;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.timeout;
import static org.mockito.Mockito.verify;

import dev.sluice.StreamOutcome.Status;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mockito.InOrder;

/** The listener is called once per event, in lifecycle order, with the handle it concerns. */
@Timeout(10)
class ListenerMockTest {

  private final StreamListener listener = mock(StreamListener.class);
  private final StreamManager manager = StreamManager.builder().listener(listener).build();

  @AfterEach
  void close() {
    manager.close();
  }

  @Test
  void completedStream_startFirstTokenTerminal_inOrder_once() throws Exception {
    StreamHandle h = manager.submit(TestStreams.counting(3));
    assertThat(TestStreams.outcome(h).status()).isEqualTo(Status.COMPLETED);
    InOrder order = inOrder(listener);
    order.verify(listener).onStart(h);
    order.verify(listener).onFirstToken(org.mockito.ArgumentMatchers.eq(h), any(Duration.class));
    order.verify(listener).onTerminal(h, TestStreams.outcome(h));
    order.verifyNoMoreInteractions();
  }

  @Test
  void cancelledWhileQueued_onlyTerminal_neverStart() throws Exception {
    manager.close();
    StreamManager m = StreamManager.builder().maxRunning(1).listener(listener).build();
    try {
      java.util.concurrent.CountDownLatch hold = new java.util.concurrent.CountDownLatch(1);
      StreamHandle running = m.submit(sink -> hold.await());
      StreamHandle queued = m.submit(TestStreams.counting(1));
      queued.cancel();
      // on the delivery executor, not on the cancelling thread
      verify(listener, timeout(5000))
          .onTerminal(argThat(s -> s == queued), argThat(o -> o.status() == Status.CANCELLED));
      verify(listener, never()).onStart(queued);
      verify(listener, timeout(5000)).onStart(running);
      hold.countDown();
    } finally {
      m.close();
    }
  }
}
