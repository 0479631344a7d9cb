package dev.sluice.bench;

import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.locks.LockSupport;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import reactor.util.concurrent.Queues;

/**
 * Reactor's {@code Sinks.many().unicast().onBackpressureBuffer(queue of 64)} read through {@code
 * publishOn(boundedElastic, 64)}. The sink never blocks, so the producer retries an overflowing
 * {@code tryEmitNext}: spins, then parks until the sink hands an element downstream (a {@code
 * doOnNext} hook unparks it; a 100 µs park bound covers a missed wake-up). Cancel: error the sink
 * and wake the producer.
 */
final class ReactorContender implements Contender {

  private static final int SPINS = 128;
  private static final long PARK_BOUND_NANOS = 100_000;

  private final ExecutorService workers = Threads.newWorkers("reactor");
  private final Scheduler scheduler = Schedulers.boundedElastic();

  @Override
  public String name() {
    return "reactor";
  }

  /** One stream's producer side. */
  private static final class Emitter {
    final Sinks.Many<String> sink =
        Sinks.many().unicast().onBackpressureBuffer(Queues.<String>get(Tokens.BUFFER).get());
    volatile Thread waiter;
    volatile boolean cancelled;

    void send(String token) {
      int spins = SPINS;
      for (; ; ) {
        Sinks.EmitResult r = sink.tryEmitNext(token);
        if (r.isSuccess()) {
          return;
        }
        if (cancelled || (r != Sinks.EmitResult.FAIL_OVERFLOW && r != Sinks.EmitResult.FAIL_NON_SERIALIZED)) {
          throw new CancellationException("sink refused the token: " + r);
        }
        if (spins > 0) {
          --spins;
          Thread.onSpinWait();
          continue;
        }
        waiter = Thread.currentThread();
        r = sink.tryEmitNext(token);
        if (r.isSuccess()) {
          waiter = null;
          return;
        }
        if (!cancelled) {
          LockSupport.parkNanos(this, PARK_BOUND_NANOS);
        }
        waiter = null;
      }
    }

    void wake() {
      Thread w = waiter;
      if (w != null) {
        LockSupport.unpark(w);
      }
    }

    void cancel() {
      cancelled = true;
      for (int i = 0; i < 1000; i++) {
        Sinks.EmitResult r = sink.tryEmitError(new CancellationException("cancelled"));
        if (r != Sinks.EmitResult.FAIL_NON_SERIALIZED) {
          break;
        }
        Thread.onSpinWait();
      }
      wake();
    }
  }

  @Override
  public Stream open(Source source, Reader reader) {
    Emitter e = new Emitter();
    e.sink
        .asFlux()
        .doOnNext(t -> e.wake())
        .publishOn(scheduler, Tokens.BUFFER)
        .subscribe(reader::onToken, err -> reader.onEnd(true), () -> reader.onEnd(false));
    return start(e, source);
  }

  @Override
  public Stream openIdle(Source source) {
    Emitter e = new Emitter();
    Flux<String> flux = e.sink.asFlux().doOnNext(t -> e.wake()).publishOn(scheduler, Tokens.BUFFER);
    flux.subscribe(t -> {}, err -> {}, () -> {});
    return start(e, source);
  }

  private Stream start(Emitter e, Source source) {
    workers.execute(
        () -> {
          try {
            source.run(e::send);
            e.sink.tryEmitComplete();
          } catch (Exception ex) {
            e.sink.tryEmitError(ex);
          }
        });
    return e::cancel;
  }

  @Override
  public void close() {
    workers.shutdownNow();
  }
}
