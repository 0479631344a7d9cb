package dev.sluice;

import static java.util.Objects.requireNonNull;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.Executor;
import java.util.concurrent.Flow;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link Flow.Publisher} view of a stream: each subscriber is a demand-driven reader.
 * Package-private; see {@link StreamHandle#publisher()}.
 */
final class StreamPublisher implements Flow.Publisher<StreamEvent> {

  private final DefaultStream stream;
  private final Executor delivery;
  private final long lastSequence;

  StreamPublisher(DefaultStream stream, Executor delivery, long lastSequence) {
    this.stream = stream;
    this.delivery = delivery;
    this.lastSequence = lastSequence;
  }

  @Override
  public void subscribe(Flow.Subscriber<? super StreamEvent> subscriber) {
    requireNonNull(subscriber, "subscriber"); // rule 1.9
    new Subscription(stream, delivery, subscriber).start(lastSequence);
  }

  /** One subscriber's reader and demand. */
  static final class Subscription implements Flow.Subscription, Runnable {

    /*
     * Implementation notes.
     *
     * The usual work-in-progress serialization (as in SubmissionPublisher and Reactor): every
     * reason to deliver -- request(n), a token published, the stream ending, a cut -- increments
     * `wip`; the caller that moves it from 0 runs the drain on the delivery executor, and the drain
     * loops until it has accounted for every increment. So signals are serial (rule 1.3), request
     * never recurses into onNext (rule 3.3), and no thread ever parks waiting for a subscriber.
     * onSubscribe runs inside the first drain "slot" (wip starts at 1).
     *
     * If the delivery executor throws (shut down, or no thread to be had), the drain runs on a new
     * thread instead, or inline if even that fails, and ends the subscription with onError: a
     * subscriber is never left without its last signal.
     */

    private static final Logger log = LoggerFactory.getLogger(StreamPublisher.class);

    private final DefaultStream stream;
    private final Executor delivery;
    private Flow.@Nullable Subscriber<? super StreamEvent> subscriber;
    private @Nullable DefaultReader reader;
    private @Nullable RuntimeException attachFailure;

    private volatile long requested;
    private volatile int wip = 1;
    private volatile boolean cancelled;
    private volatile @Nullable IllegalArgumentException badRequest;
    private volatile @Nullable Throwable executorFailure;
    private boolean done; // drain thread only

    Subscription(
        DefaultStream stream, Executor delivery, Flow.Subscriber<? super StreamEvent> subscriber) {
      this.stream = stream;
      this.delivery = delivery;
      this.subscriber = subscriber;
    }

    void start(long lastSequence) {
      try {
        reader = stream.attachReader(lastSequence, this::signal);
      } catch (RuntimeException e) {
        // e.g. the events after it are no longer retained, or it is beyond the end: onError after
        // onSubscribe (rule 1.9), with the exception attach(lastSequence) would have thrown
        attachFailure = e;
      }
      Flow.@Nullable Subscriber<? super StreamEvent> s = subscriber;
      if (s != null) {
        try {
          s.onSubscribe(this);
        } catch (Throwable e) {
          log.warn("stream {}: onSubscribe threw; cancelling the subscription", stream.id, e);
          cancel();
        }
      }
      // One drain after onSubscribe, accounting for the initial wip of 1: it delivers an end that
      // needs no demand (the stream may have ended already) and whatever onSubscribe requested.
      schedule();
    }

    @Override
    public void request(long n) {
      if (n <= 0) {
        badRequest =
            new IllegalArgumentException(
                "non-positive request: " + n + " (Reactive Streams rule 3.9)");
      } else {
        for (long r = requested; r != Long.MAX_VALUE; r = requested) {
          long next = r + n < 0 ? Long.MAX_VALUE : r + n;
          if (REQUESTED.compareAndSet(this, r, next)) {
            break;
          }
        }
      }
      signal();
    }

    @Override
    public void cancel() {
      if (!cancelled) {
        cancelled = true;
        DefaultReader r = reader;
        if (r != null) {
          r.close(); // a reader detach: the DetachPolicy applies if it was the last one
        }
        signal(); // let the drain drop its references
      }
    }

    /** Something changed: make sure a drain runs. */
    void signal() {
      if ((int) WIP.getAndAdd(this, 1) == 0) {
        schedule();
      }
    }

    private void schedule() {
      try {
        delivery.execute(this);
        return;
      } catch (Throwable e) {
        log.error("stream {}: delivery executor failed to run a drain; ending the subscription", stream.id, e);
        if (executorFailure == null) {
          executorFailure = e;
        }
      }
      try {
        Thread t = new Thread(this, "sluice-delivery-fallback-" + stream.id);
        t.setDaemon(true);
        t.start();
      } catch (Throwable e) {
        run(); // no thread to be had: end it here
      }
    }

    /** The drain: delivers what demand allows, then the end. One thread at a time. */
    @Override
    public void run() {
      int missed = 1;
      for (; ; ) {
        drainOnce();
        missed = (int) WIP.getAndAdd(this, -missed) - missed;
        if (missed == 0) {
          return;
        }
      }
    }

    private void drainOnce() {
      Flow.@Nullable Subscriber<? super StreamEvent> s = subscriber;
      if (s == null || done) {
        return;
      }
      if (cancelled) {
        release();
        return;
      }
      Throwable failure = badRequest;
      if (failure == null) {
        failure = attachFailure;
      }
      Throwable broken = executorFailure;
      if (failure == null && broken != null) {
        failure = new IllegalStateException("the delivery executor failed: " + broken, broken);
      }
      if (failure != null) {
        cancel();
        terminate(s, failure);
        return;
      }
      DefaultReader r = reader;
      if (r == null) {
        return;
      }
      long emitted = 0;
      long demand = requested;
      try {
        for (; ; ) {
          if (cancelled) {
            release();
            return;
          }
          StreamEvent e = r.step(emitted != demand);
          if (e == null) {
            break;
          }
          if (e instanceof StreamEvent.Token || e instanceof StreamEvent.Gap) {
            s.onNext(e);
            emitted++;
            if (emitted == demand) {
              demand = requested == Long.MAX_VALUE ? Long.MAX_VALUE : addDemand(-emitted);
              emitted = 0;
            }
          } else {
            done = true;
            if (e instanceof StreamEvent.Terminal t
                && t.status() == StreamOutcome.Status.COMPLETED) {
              s.onComplete();
            } else {
              s.onError(new StreamEndedException(stream.id, e));
            }
            release();
            return;
          }
        }
      } catch (Throwable e) {
        if (!cancelled) {
          log.warn("stream {}: subscriber threw; cancelling its subscription", stream.id, e);
        }
        cancel(); // rule 2.13: a subscriber that throws is treated as having cancelled
        release();
        return;
      }
      if (emitted != 0 && requested != Long.MAX_VALUE) {
        addDemand(-emitted);
      }
    }

    private long addDemand(long delta) {
      return (long) REQUESTED.getAndAdd(this, delta) + delta;
    }

    private void terminate(Flow.Subscriber<? super StreamEvent> s, Throwable error) {
      done = true;
      try {
        s.onError(error);
      } catch (Throwable e) {
        log.warn("stream {}: subscriber's onError threw", stream.id, e);
      }
      release();
    }

    /** Drops the references to the subscriber (rule 3.13). */
    private void release() {
      subscriber = null;
      done = true;
    }

    private static final VarHandle REQUESTED;
    private static final VarHandle WIP;

    static {
      try {
        MethodHandles.Lookup l = MethodHandles.lookup();
        REQUESTED = l.findVarHandle(Subscription.class, "requested", long.class);
        WIP = l.findVarHandle(Subscription.class, "wip", int.class);
      } catch (ReflectiveOperationException e) {
        throw new ExceptionInInitializerError(e);
      }
    }
  }
}
