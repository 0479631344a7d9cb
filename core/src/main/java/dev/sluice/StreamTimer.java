package dev.sluice;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * The clock of one stream and its single timer entry: every time that matters to it (submit, start,
 * first and last token, producer blocked, no reader, end, abort) and the one function, {@link #due},
 * that derives both what expires next and when. Package-private; owned by its {@link DefaultStream}.
 */
final class StreamTimer {

  /*
   * Implementation notes.
   *
   * One scheduled entry per stream. An earlier deadline replaces a later entry; a later one waits
   * for the earlier entry, which re-evaluates everything when it fires. When it fires, due(now) says
   * what is overdue (delay 0), which is acted on until nothing is, and then when to fire next: the
   * same function answers both questions, so they cannot disagree.
   *
   * The times are volatile words written by the thread where the event happens; the entry (future,
   * its due time, its sequence number) is guarded by this object's monitor: this class is private
   * to the stream, so nothing a user holds (the handle's monitor) can delay a timer. Nothing in here runs user code: a timeout
   * only seals the stream; the stream hands the callbacks to the delivery executor.
   *
   * blockedSince is set by the producer when it starts waiting for space and cleared when it gets
   * it; the timer restarts it after cutting slow readers only by CAS from the value it acted on, so
   * a producer that got space meanwhile is not measured as blocked again.
   */

  /** Sentinel for "no such time yet". */
  static final long NONE = Long.MIN_VALUE;

  // what is due, in priority order when several are due at once
  static final int NOTHING = 0;
  static final int DEADLINE = 1;
  static final int FIRST_TOKEN = 2;
  static final int IDLE = 3;
  static final int NO_READER = 4;
  static final int SLOW_READER = 5;
  static final int STOP_CHECK = 6;
  static final int RETENTION = 7;

  private final DefaultStream stream;
  private final DefaultStreamManager m;

  final long submitNanos;
  volatile long startNanos = NONE;
  volatile long firstTokenNanos = NONE;

  /** Written per token with opaque mode, only when an idle timeout is configured. */
  @SuppressWarnings("UnusedVariable") // accessed through LAST_TOKEN only
  private long lastTokenNanos = NONE;

  /** When the last validated reader went away (or submit); NONE while one is attached. */
  private volatile long noReaderSince;

  /** When the producer began waiting for space; NONE while it is not waiting. */
  private volatile long blockedSince = NONE;

  volatile long endNanos = NONE;

  /** When the stream was aborted while its source ran; NONE unless a stop check is pending. */
  private volatile long abortedNanos = NONE;

  // ---- the entry; guarded by this ----
  private @Nullable ScheduledFuture<?> entry;
  private long entryAt = NONE;
  private long entrySeq;

  StreamTimer(DefaultStream stream, DefaultStreamManager manager, long submitNanos) {
    this.stream = stream;
    this.m = manager;
    this.submitNanos = submitNanos;
    this.noReaderSince = submitNanos;
  }

  // ------------------------------------------------------------------ events

  void started(long now) {
    startNanos = now;
    schedule(now);
  }

  /** Token 1 is about to be published: written before it, so that its readers see the time. */
  void firstTokenSending(long now) {
    firstTokenNanos = now;
  }

  void firstTokenRefused() {
    firstTokenNanos = NONE;
  }

  void tokenSent(long now, boolean first) {
    if (m.idleTimeoutNanos != 0) {
      LAST_TOKEN.setOpaque(this, now);
      if (first) {
        schedule(now);
      }
    }
  }

  void producerBlocked(long now) {
    if (m.slowReaderTimeoutNanos != 0 || m.idleTimeoutNanos != 0) {
      blockedSince = now;
      schedule(now);
    }
  }

  /** The producer got space: the idle clock restarts, the time blocked is not the upstream's. */
  void producerUnblocked(long now) {
    if (blockedSince != NONE) {
      blockedSince = NONE;
      if (m.idleTimeoutNanos != 0) {
        LAST_TOKEN.setOpaque(this, now);
        schedule(now); // the idle deadline was off while blocked: put it back
      }
    }
  }

  void noReader(long now) {
    noReaderSince = now;
    schedule(now);
  }

  /**
   * A reader was validated: the no-reader deadline is off while one is attached (due() asks the
   * reader set), so free the entry if it was the next. noReaderSince is left alone: a reader that
   * left meanwhile has set it afresh, and that must stand.
   */
  void readerAttached(long now) {
    if (m.noReaderTimeoutNanos != 0) {
      retime(now);
    }
  }

  void ended(long now, boolean aborted) {
    endNanos = now;
    if (aborted) {
      abortedNanos = now;
    }
    schedule(now); // retention, and the stop check of an aborted source
  }

  // ------------------------------------------------------------------ the one function

  /** What is due next and in how many nanoseconds (0: overdue); kind NOTHING if nothing will be. */
  record Due(int kind, long delay) {}

  private static final Due NOTHING_DUE = new Due(NOTHING, -1);

  /**
   * Derives what about the stream is due next and when, from its times. Delays are computed as
   * {@code timeout - elapsed}: both non-negative longs, so even a timeout of 290 years cannot
   * overflow.
   */
  Due due(long now) {
    int kind = NOTHING;
    long delay = -1;
    if (stream.running()) {
      if (m.deadlineNanos != 0) {
        long d = left(now, submitNanos, m.deadlineNanos);
        kind = DEADLINE;
        delay = d;
      }
      long start = startNanos;
      if (m.firstTokenTimeoutNanos != 0 && start != NONE && firstTokenNanos == NONE) {
        long d = left(now, start, m.firstTokenTimeoutNanos);
        if (delay < 0 || d < delay) {
          kind = FIRST_TOKEN;
          delay = d;
        }
      }
      long last = (long) LAST_TOKEN.getOpaque(this);
      if (m.idleTimeoutNanos != 0 && last != NONE && blockedSince == NONE) {
        long d = left(now, last, m.idleTimeoutNanos);
        if (delay < 0 || d < delay) {
          kind = IDLE;
          delay = d;
        }
      }
      long since = noReaderSince;
      // A detach racing an attach may leave a stale noReaderSince while a reader is attached: the
      // reader set decides.
      if (m.noReaderTimeoutNanos != 0 && since != NONE && !stream.hasReader()) {
        long d = left(now, since, m.noReaderTimeoutNanos);
        if (delay < 0 || d < delay) {
          kind = NO_READER;
          delay = d;
        }
      }
      long blocked = blockedSince;
      if (m.slowReaderTimeoutNanos != 0 && blocked != NONE) {
        long d = left(now, blocked, m.slowReaderTimeoutNanos);
        if (delay < 0 || d < delay) {
          kind = SLOW_READER;
          delay = d;
        }
      }
    } else {
      long aborted = abortedNanos;
      if (aborted != NONE) {
        kind = STOP_CHECK;
        delay = left(now, aborted, m.stopTimeoutNanos);
      }
      long end = endNanos;
      if (end != NONE && !stream.isRemoved()) {
        long d = left(now, end, m.retentionNanos);
        if (delay < 0 || d < delay) {
          kind = RETENTION;
          delay = d;
        }
      }
    }
    return kind == NOTHING ? NOTHING_DUE : new Due(kind, delay);
  }

  /** What is left of {@code timeout} started at {@code since}, at least 0. */
  private static long left(long now, long since, long timeout) {
    return Math.max(0, timeout - Math.max(0, now - since));
  }

  /** The message of a timeout of this kind, or null if it is not a timeout. */
  private @Nullable String timeoutMessage(int kind) {
    return switch (kind) {
      case DEADLINE -> "deadline of " + Duration.ofNanos(m.deadlineNanos) + " passed";
      case FIRST_TOKEN -> "no first token within " + Duration.ofNanos(m.firstTokenTimeoutNanos);
      case IDLE -> "no token for " + Duration.ofNanos(m.idleTimeoutNanos) + " (idle timeout)";
      case NO_READER -> "no reader attached for " + Duration.ofNanos(m.noReaderTimeoutNanos);
      case SLOW_READER, STOP_CHECK, RETENTION, NOTHING -> null;
      default -> throw new IllegalStateException("unknown timer kind " + kind);
    };
  }

  // ------------------------------------------------------------------ the entry

  /** The timer task: acts on everything overdue, then schedules the next entry. */
  void fire(long seq) {
    synchronized (this) {
      if (seq == entrySeq) {
        entry = null;
        entryAt = NONE;
      }
    }
    long now = m.now();
    for (int acted = 0; acted < 8; acted++) { // each act removes what it acted on
      Due d = due(now);
      if (d.kind() == NOTHING || d.delay() > 0) {
        break;
      }
      act(d.kind(), now);
    }
    schedule(now);
  }

  private void act(int kind, long now) {
    switch (kind) {
      case DEADLINE, FIRST_TOKEN, IDLE, NO_READER -> {
        String message = timeoutMessage(kind);
        stream.terminate(DefaultStream.S_TIMED_OUT, message, null);
      }
      case SLOW_READER -> {
        long blocked = blockedSince;
        if (blocked == NONE) {
          return; // it got space since due() looked: nobody held it back
        }
        // Judged against the value read here, not the one due() saw: if the producer got space
        // and blocked again meanwhile, the readers are measured from the new wait.
        stream.cutSlowReaders(blocked, now);
        // If it still waits, measure afresh; if it got space meanwhile, leave it NONE (S1).
        BLOCKED.compareAndSet(this, blocked, now);
      }
      case STOP_CHECK -> {
        abortedNanos = NONE;
        m.reportIgnoredCancellation(stream);
      }
      case RETENTION -> stream.tryRemove(true);
      default -> throw new IllegalStateException("nothing to act on: " + kind);
    }
  }

  /**
   * Makes sure the entry fires no later than the next due time. An earlier due time replaces a
   * later entry; a later one waits for the earlier entry.
   */
  void schedule(long now) {
    Due d = due(now);
    long delay = d.delay();
    if (delay < 0) {
      return;
    }
    Throwable failure = null;
    synchronized (this) {
      // Compare remaining delays, not absolute times: differences never overflow. An entry that
      // can no longer fire (done without having fired, or its scheduler shut down, which drops
      // queued tasks silently) is not trusted: scheduling anew fails the stream closed.
      ScheduledFuture<?> current = entry;
      if (current != null
          && entryAt - now <= delay
          && !current.isDone()
          && !m.scheduler.isShutdown()) {
        return;
      }
      if (entry != null) {
        entry.cancel(false);
      }
      long seq = ++entrySeq;
      entryAt = now + delay;
      try {
        entry = m.scheduler.schedule(() -> fire(seq), delay, TimeUnit.NANOSECONDS);
      } catch (Throwable e) {
        entry = null;
        entryAt = NONE;
        failure = e;
      }
    }
    if (failure != null && !m.closing()) { // while closing, close() takes over
      // Fail closed: a stream whose timeouts cannot run must not run unbounded.
      DefaultStream.log.error(
          "stream {}: the scheduler rejected its timer, so its timeouts and retention cannot run:"
              + " was {} shut down while the manager is open?",
          stream.id,
          m.scheduler,
          failure);
      stream.terminate(
          DefaultStream.S_FAILED, "the scheduler rejected the stream's timer: " + failure, failure);
    }
  }

  /**
   * Like {@link #schedule}, but also for a due time that moved later or went away: replaces an
   * entry that would fire too early, or cancels it. Keeps idle streams free of entries they no
   * longer need.
   */
  void retime(long now) {
    long delay = due(now).delay();
    synchronized (this) {
      if (entry != null && (delay < 0 || entryAt - now < delay)) {
        entry.cancel(false);
        entry = null;
        entryAt = NONE;
      }
    }
    schedule(now);
  }

  /** Cancels the entry once the stream was removed, unless a stop check is still pending. */
  void removed() {
    synchronized (this) {
      if (entry != null && abortedNanos == NONE) {
        entry.cancel(false);
        entry = null;
        entryAt = NONE;
      }
    }
  }

  private static final VarHandle LAST_TOKEN;
  private static final VarHandle BLOCKED;

  static {
    try {
      MethodHandles.Lookup l = MethodHandles.lookup();
      LAST_TOKEN = l.findVarHandle(StreamTimer.class, "lastTokenNanos", long.class);
      BLOCKED = l.findVarHandle(StreamTimer.class, "blockedSince", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }
}
