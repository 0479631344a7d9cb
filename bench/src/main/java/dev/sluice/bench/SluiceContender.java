package dev.sluice.bench;

import dev.sluice.StreamEvent;
import dev.sluice.StreamHandle;
import dev.sluice.StreamManager;
import dev.sluice.StreamOutcome;
import dev.sluice.StreamReader;
import java.time.Duration;
import java.util.concurrent.ExecutorService;

/**
 * Sluice as a user configures it for many streams: buffer 64, room for every stream to run at once,
 * a long no-reader timeout. Producers run on the manager's default executor (virtual threads on
 * 21+, a pool of maxRunning platform threads on 17); readers block in {@link StreamReader#next()}.
 */
final class SluiceContender implements Contender {

  private final StreamManager manager;
  private final ExecutorService readers;

  SluiceContender(int maxStreams) {
    this.manager =
        StreamManager.builder()
            .bufferSize(Tokens.BUFFER)
            .maxRunning(Math.max(1, maxStreams))
            .queueCapacity(Math.max(1, maxStreams))
            .noReaderTimeout(Duration.ofHours(1))
            .stopTimeout(Duration.ofSeconds(1))
            .build();
    this.readers = Threads.newWorkers("sluice-reader");
  }

  @Override
  public String name() {
    return "sluice";
  }

  @Override
  public Stream open(Source source, Reader reader) {
    StreamHandle handle = manager.submit(sink -> source.run(sink::send));
    StreamReader r = handle.attach();
    readers.execute(
        () -> {
          try {
            for (; ; ) {
              StreamEvent e = r.next();
              if (e instanceof StreamEvent.Token) {
                reader.onToken(((StreamEvent.Token) e).text());
              } else {
                reader.onEnd(
                    ((StreamEvent.Terminal) e).status() == StreamOutcome.Status.CANCELLED);
                return;
              }
            }
          } catch (InterruptedException e) {
            reader.onEnd(true);
          }
        });
    return handle::cancel;
  }

  @Override
  public Stream openIdle(Source source) {
    StreamHandle handle = manager.submit(sink -> source.run(sink::send));
    StreamReader r = handle.attach();
    return new Stream() {
      @SuppressWarnings("unused")
      final StreamReader attached = r;

      @Override
      public void cancel() {
        handle.cancel();
      }
    };
  }

  @Override
  public void close() {
    manager.close();
    readers.shutdownNow();
  }
}
