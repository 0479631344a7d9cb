package dev.sluice.bench;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;

/**
 * What a user writes by hand: an {@code ArrayBlockingQueue(64)}, a producer task that {@code put}s
 * then a poison pill, a reader that {@code take}s. Cancel: interrupt the producer (Future.cancel) and
 * hand the reader a poison pill, clearing the queue if it is full.
 */
final class AbqContender implements Contender {

  private static final Object DONE = new Object();
  private static final Object CANCELLED = new Object();

  private final ExecutorService workers = Threads.newWorkers("abq");

  @Override
  public String name() {
    return "abq";
  }

  @Override
  public Stream open(Source source, Reader reader) {
    ArrayBlockingQueue<Object> q = new ArrayBlockingQueue<>(Tokens.BUFFER);
    Stream s = start(q, source);
    workers.execute(
        () -> {
          try {
            for (; ; ) {
              Object o = q.take();
              if (o == DONE || o == CANCELLED) {
                reader.onEnd(o == CANCELLED);
                return;
              }
              reader.onToken((String) o);
            }
          } catch (InterruptedException e) {
            reader.onEnd(true);
          }
        });
    return s;
  }

  @Override
  public Stream openIdle(Source source) {
    return start(new ArrayBlockingQueue<>(Tokens.BUFFER), source);
  }

  private Stream start(ArrayBlockingQueue<Object> q, Source source) {
    Future<?> producer =
        workers.submit(
            () -> {
              try {
                source.run(q::put);
                q.put(DONE);
              } catch (InterruptedException e) {
                // cancelled: the canceller already told the reader
              } catch (Exception e) {
                q.clear();
                q.offer(CANCELLED);
              }
              return null;
            });
    return () -> {
      producer.cancel(true);
      if (!q.offer(CANCELLED)) {
        q.clear();
        q.offer(CANCELLED);
      }
    };
  }

  @Override
  public void close() {
    workers.shutdownNow();
  }
}
