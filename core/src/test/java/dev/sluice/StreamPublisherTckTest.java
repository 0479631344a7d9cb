package dev.sluice;

import java.time.Duration;
import java.util.concurrent.Flow;
import org.reactivestreams.tck.TestEnvironment;
import org.reactivestreams.tck.flow.FlowPublisherVerification;
import org.testng.annotations.AfterClass;
import org.testng.annotations.BeforeClass;

/**
 * The Reactive Streams TCK against {@link StreamHandle#publisher()}: a publisher of n elements is a
 * stream of n tokens that completes; the failed publisher is a stream whose source throws.
 */
public class StreamPublisherTckTest extends FlowPublisherVerification<StreamEvent> {

  private StreamManager manager;

  public StreamPublisherTckTest() {
    super(new TestEnvironment(1_000, 250), 2_000);
  }

  @BeforeClass
  public void startManager() {
    manager =
        StreamManager.builder()
            .maxRunning(4096)
            .queueCapacity(0)
            .noReaderTimeout(Duration.ofSeconds(5)) // publishers the TCK never subscribes to
            .build();
  }

  @AfterClass
  public void closeManager() {
    manager.close();
  }

  @Override
  public Flow.Publisher<StreamEvent> createFlowPublisher(long elements) {
    return manager
        .submit(
            sink -> {
              for (long i = 1; i <= elements; i++) {
                sink.send("t" + i);
              }
            })
        .publisher();
  }

  @Override
  public Flow.Publisher<StreamEvent> createFailedFlowPublisher() {
    return manager
        .submit(
            sink -> {
              throw new IllegalStateException("upstream failed");
            })
        .publisher();
  }
}
