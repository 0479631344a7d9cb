package dev.sluice;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;

/**
 * One stream: its identity, its state machine, and the way to read it.
 *
 * <p>A stream starts {@link State#RUNNING} (queued or producing) and makes exactly one transition,
 * to {@link State#CANCELLED} or {@link State#DONE}; terminal states are absorbing. Every observer
 * agrees on the result: {@link #state()}, {@link #outcome()} and the terminal event a reader
 * receives.
 *
 * <p>All methods may be called from any thread.
 */
public interface StreamHandle {

  /** The states of a stream. */
  enum State {
    /** Waiting for a worker or producing tokens. */
    RUNNING,
    /** Cancelled: by {@link #cancel()}, by its reader detaching, or by its manager closing. */
    CANCELLED,
    /** Ended otherwise: completed, failed or timed out; {@link #outcome()} says which. */
    DONE
  }

  /**
   * This stream's id: 128 random bits from {@link java.security.SecureRandom} as 22 URL-safe base64
   * characters. Unguessable; safe to hand to clients.
   */
  String id();

  /** The current state; a volatile read. */
  State state();

  /**
   * Cancels this stream if it is still running.
   *
   * <p>On success the stream is {@link State#CANCELLED}: its terminal event is emitted at once (it
   * never waits for the reader), a producer blocked in {@link TokenSink#send} is released, the
   * source's {@link TokenSink#onCancel} hooks run and its worker is interrupted. A stream still in
   * the queue never starts.
   *
   * <p>Idempotent and safe from any thread; never waits for the source, the reader or any user
   * callback: before it returns, the terminal event is emitted, every blocked reader and the producer
   * are woken and the worker is interrupted; the hooks, the listener and the dependents of {@link
   * #outcome()} then run on the manager's delivery executor, never on the calling thread.
   *
   * @return true if this call cancelled the stream; false if it had already ended
   */
  boolean cancel();

  /**
   * The outcome, completed exactly once when the stream ends, with the same status as its terminal
   * event. It is completed on the manager's delivery executor, after the listener's {@code
   * onTerminal}: dependents added without an executor run there, or on the adding thread if it had
   * already completed; never on the thread that cancels and never on the timer thread.
   */
  CompletionStage<StreamOutcome> outcome();

  /**
   * Attaches a new reader that starts at the first event.
   *
   * <p>Any number of readers may be attached, each with its own cursor (fan-out): a late reader
   * replays what the stream still retains, so identical requests can share one upstream call. Works
   * while the stream runs and after it ended, as long as its manager retains it: a stream cancelled
   * before anyone read it still yields its tokens and then its {@code CANCELLED} terminal event.
   *
   * @return a reader; close it to detach
   * @throws EventsDroppedException if the first events are no longer retained
   */
  StreamReader attach();

  /**
   * Attaches a new reader that resumes after {@code lastSequence}, the last sequence number a
   * previous reader saw (0 starts at the beginning).
   *
   * @param lastSequence the last sequence number already seen; 0 to start at the beginning
   * @return a reader positioned after {@code lastSequence}
   * <p>The position is validated before the reader holds the producer back, so a rejected attach
   * changes nothing for the stream and its other readers. Retention is judged by what the producer
   * wrote: every token whose slot has not been overwritten can be replayed, which with a ring of
   * {@code slots} entries ({@code bufferSize + replayWindow} rounded up to a power of two) means at
   * least the last {@code slots - 1} tokens, and all of them while no more were sent.
   *
   * @throws IllegalArgumentException if {@code lastSequence} is negative, beyond the last token of a
   *     running stream, or at or beyond the terminal event of an ended one (nothing follows it)
   * @throws EventsDroppedException if events after {@code lastSequence} are no longer retained
   */
  StreamReader attach(long lastSequence);

  /**
   * A {@link Flow.Publisher} view of this stream, for reactive frameworks (Reactor's {@code
   * JdkFlowAdapter}, Mutiny, Vert.x, Spring WebFlux). Verified with the Reactive Streams TCK.
   *
   * <p>Each subscriber is a reader attached at the first event (so the same rules apply: fan-out,
   * retention, slow readers). {@code onNext} carries {@link StreamEvent.Token}s, and {@link
   * StreamEvent.Gap}s under {@link SlowReaderPolicy#SKIP}; the end is {@code onComplete} when the
   * stream COMPLETED, else {@code onError} with a {@link StreamEndedException} holding the terminal
   * (or {@link StreamEvent.Detached}) event, so that CANCELLED, FAILED and TIMED_OUT stay distinct.
   *
   * <p>Delivery is demand-driven ({@code request(n)}) and runs on the manager's delivery executor;
   * no thread waits for a subscriber. {@code Subscription.cancel()} detaches the reader: with
   * {@link DetachPolicy#CANCEL}, the last subscriber leaving cancels the stream.
   */
  Flow.Publisher<StreamEvent> publisher();

  /**
   * A {@link Flow.Publisher} view whose subscribers resume after {@code lastSequence}, like {@link
   * #attach(long)}: what an SSE endpoint answering a reconnect with {@code Last-Event-ID} needs.
   * Otherwise exactly like {@link #publisher()}.
   *
   * <p>A position that {@code attach(lastSequence)} would reject (beyond the end, or no longer
   * retained) fails each subscriber with {@code onError} carrying that same exception, after
   * {@code onSubscribe}.
   *
   * @param lastSequence the last sequence number already seen; 0 to start at the beginning
   * @throws IllegalArgumentException if {@code lastSequence} is negative
   */
  Flow.Publisher<StreamEvent> publisher(long lastSequence);

  /**
   * The attributes given at submit (model, provider, operation, ...), for listeners and metrics;
   * unmodifiable, empty if none were given.
   */
  Map<String, String> attributes();

  /**
   * How long the stream waited for a worker: from submit to its source starting. Empty until it
   * starts (and for a stream cancelled while queued). Time to first token as OpenTelemetry
   * defines it, from the client's request, is {@code queueWait() + timeToFirstToken()}.
   */
  Optional<Duration> queueWait();

  /**
   * Time from the source starting to its first token; empty until a token is sent. Present for
   * anyone who has received the first token.
   */
  Optional<Duration> timeToFirstToken();

  /**
   * Tokens per second since the first token: up to now while running, up to the end once ended; 0
   * before the second token.
   */
  double tokensPerSecond();
}
