package dev.sluice.bench;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Flow;
import java.util.concurrent.SubmissionPublisher;

/**
 * JDK {@code SubmissionPublisher(executor, 64)} with one subscriber. The producer blocks in {@code
 * submit}; the subscriber's callbacks run on the executor. Cancel is {@code close()}, the
 * publisher's only stop (it does not release a producer blocked in {@code submit}: P4 shows it).
 */
final class SubmissionPublisherContender implements Contender {

  private final ExecutorService workers = Threads.newWorkers("sp");

  @Override
  public String name() {
    return "submission-publisher";
  }

  @Override
  public Stream open(Source source, Reader reader) {
    SubmissionPublisher<String> pub = new SubmissionPublisher<>(workers, Tokens.BUFFER);
    pub.subscribe(
        new Flow.Subscriber<String>() {
          @Override
          public void onSubscribe(Flow.Subscription s) {
            s.request(Long.MAX_VALUE);
          }

          @Override
          public void onNext(String item) {
            reader.onToken(item);
          }

          @Override
          public void onError(Throwable e) {
            reader.onEnd(true);
          }

          @Override
          public void onComplete() {
            reader.onEnd(false);
          }
        });
    return start(pub, source);
  }

  @Override
  public Stream openIdle(Source source) {
    SubmissionPublisher<String> pub = new SubmissionPublisher<>(workers, Tokens.BUFFER);
    pub.subscribe(
        new Flow.Subscriber<String>() {
          @Override
          public void onSubscribe(Flow.Subscription s) {
            s.request(Tokens.BUFFER);
          }

          @Override
          public void onNext(String item) {}

          @Override
          public void onError(Throwable e) {}

          @Override
          public void onComplete() {}
        });
    return start(pub, source);
  }

  private Stream start(SubmissionPublisher<String> pub, Source source) {
    workers.execute(
        () -> {
          try {
            source.run(pub::submit);
            pub.close();
          } catch (Exception e) {
            pub.closeExceptionally(e);
          }
        });
    return pub::close;
  }

  @Override
  public void close() {
    workers.shutdownNow();
  }
}
