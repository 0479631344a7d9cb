package dev.sluice;

import static dev.sluice.DefaultStream.COUNT_MASK;
import static dev.sluice.DefaultStream.S_RUNNING;
import static dev.sluice.DefaultStream.statusOf;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.NoSuchElementException;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/** The {@link StreamReader} of a {@link DefaultStream}: one cursor of its fan-out. Package-private. */
final class DefaultReader implements StreamReader {

  /*
   * Implementation notes.
   *
   * The reader's `cursor` is its gating position: the producer never writes more than bufferSize
   * tokens past the smallest cursor of the attached readers, so the slots after a cursor are intact
   * while the cursor stays (TokenRing). The reader delivers token c+1 by reading its slot and then
   * CASing the cursor from c to c+1. Everything else that moves a cursor also CASes it -- close()
   * and a DETACH cut set it to GONE (no longer gating), a SKIP cut moves it ahead -- so if the
   * reader's CAS succeeds, nobody released the slot before the reader read it, and if it fails, the
   * reader re-evaluates without returning what it read. No reader ever returns an overwritten token.
   *
   * A slow-reader cut decided while the stream runs may land after it ended (the timer read
   * RUNNING, then a terminator won). The cutter marks the reader CUTTING, moves the cursor (to GONE
   * for DETACH, ahead for SKIP) and re-reads the tail: still running, the cut stands; ended, and
   * every token after the old cursor still intact, it is undone (the reader goes on to its tokens
   * and terminal). A standing DETACH takes the reader out of the ring before the reader may see it
   * (confirmCut), so that a client closing the reader on Detached cannot get ahead of the detach
   * policy. A reader that finds itself CUTTING waits for the verdict; the cutter wakes it. One
   * cutter at a time owns a cut (CAS FREE -> CUTTING; a multi-threaded scheduler may fire a stream's
   * timer twice at once), and a standing SKIP is reported from `skippedTo`, which the cutter publishes
   * before it lets go, never from the cursor alone, which may be ahead for a cut still being decided.
   *
   * Waiting: the reader publishes its waiter and then looks for an event once more before parking;
   * everything that can make an event ready (a publish, the terminal, a cut, close) writes its word
   * first and then wakes the reader (TokenRing pair C).
   *
   * Fields other than the volatile ones belong to the reading thread (one at a time, per contract).
   */

  /** Cursor value of a reader that no longer holds the producer back: closed, cut or finished. */
  static final long GONE = Long.MAX_VALUE;

  /** Cut states. */
  private static final int FREE = 0;

  private static final int CUTTING = 1;
  private static final int DETACHED = 2;

  private final DefaultStream stream;
  private final TokenRing ring;

  /**
   * The gating position. Moves by CAS only:
   *
   * <pre>
   * c -> c + 1     the reader delivered token c + 1
   * c -> n > c     a SKIP cut moved it to the newest token n (the reader reports a Gap)
   * c -> GONE      close(), a DETACH cut, the terminal delivered, or a failed attach
   * GONE -> c      a DETACH cut undone because the stream had ended (see the notes)
   * n -> c         a SKIP cut undone, likewise
   * </pre>
   */
  private volatile long cursor;

  /** Set once the attach validated this reader: from then on it counts for the detach policy. */
  private volatile boolean validated;

  /** When it was validated (ticker nanos); written before {@link #validated}. */
  private long attachedAt;

  /** The thread parked in poll, or null. */
  private volatile @Nullable Thread waiter;

  /** Called instead of unparking, for a demand-driven (Flow) reader; null for a blocking one. */
  private final @Nullable Runnable signal;

  /**
   * The cut in progress, owned by one cutter at a time (the timer may fire twice at once on a
   * multi-threaded scheduler):
   *
   * <pre>
   * FREE -> CUTTING      a cutter took it (CAS; a second cutter finds it taken and leaves it)
   * CUTTING -> DETACHED  a DETACH stands (final)
   * CUTTING -> FREE      a SKIP stands (skippedTo published first), or the cut was undone
   * </pre>
   */
  private volatile int cutState;

  /** Why a DETACH cut ended this reader; written by the cutter that owns the cut. */
  private volatile @Nullable String cutReason;

  /**
   * The newest position a standing SKIP moved this reader to; rises only. The reader reports a gap
   * from this, never from the cursor alone, which may be ahead only for a cut still being decided.
   */
  private volatile long skippedTo;

  /** Set by close(), from any thread. */
  private volatile boolean closed;

  /** Sequence number of the last event returned. Reading thread. */
  private long delivered;

  /** Token count last read from the stream's tail. Reading thread. */
  private long knownCount;

  /** Whether the last event was returned. Reading thread. */
  private boolean finished;

  DefaultReader(DefaultStream stream, TokenRing ring, long lastSequence, @Nullable Runnable signal) {
    this.stream = stream;
    this.ring = ring;
    this.cursor = lastSequence;
    this.delivered = lastSequence;
    this.signal = signal;
  }

  /** The gating position, or {@link #GONE}. */
  long position() {
    return cursor;
  }

  boolean isValidated() {
    return validated;
  }

  void validate(long now) {
    attachedAt = now;
    validated = true;
  }

  /** Whether this is a demand-driven (Flow) reader, woken by an executor call. */
  boolean isSignalled() {
    return signal != null;
  }

  @Override
  public StreamEvent next() throws InterruptedException {
    StreamEvent e = await(0, false);
    if (e == null) {
      throw new AssertionError("untimed wait returned nothing");
    }
    return e;
  }

  @Override
  public @Nullable StreamEvent poll(Duration timeout) throws InterruptedException {
    if (timeout == null) {
      throw new NullPointerException("timeout");
    }
    long nanos;
    try {
      nanos = timeout.toNanos();
    } catch (ArithmeticException e) {
      nanos = Long.MAX_VALUE;
    }
    return await(nanos, true);
  }

  private @Nullable StreamEvent await(long nanos, boolean timed) throws InterruptedException {
    if (finished) {
      throw new NoSuchElementException(
          "stream " + stream.id + ": this reader already returned its last event");
    }
    long deadline = timed ? System.nanoTime() + nanos : 0;
    int spins = DefaultStream.SPINS;
    for (; ; ) {
      if (closed) {
        throw new IllegalStateException("reader of stream " + stream.id + " is closed");
      }
      StreamEvent e = step(true);
      if (e != null) {
        return e;
      }
      if (timed && nanos <= 0) {
        return null;
      }
      if (spins > 0) {
        --spins;
        Thread.onSpinWait();
        continue;
      }
      waiter = Thread.currentThread(); // pair C: then look once more
      e = closed ? null : step(true);
      if (e != null) {
        waiter = null;
        return e;
      }
      if (!closed) {
        if (timed) {
          LockSupport.parkNanos(this, nanos);
        } else {
          LockSupport.park(this);
        }
      }
      waiter = null;
      if (Thread.interrupted()) {
        throw new InterruptedException();
      }
      if (timed) {
        nanos = deadline - System.nanoTime();
      }
    }
  }

  /**
   * Returns the next event if one is ready, without waiting; null if none is. With {@code
   * tokensAllowed} false, returns only a last event (terminal or detached) that comes next, never a
   * token or gap: how a demand-driven subscriber with no demand still gets completed.
   *
   * @throws IllegalStateException if the reader was closed
   */
  @Nullable StreamEvent step(boolean tokensAllowed) {
    for (; ; ) {
      if (finished) {
        return null;
      }
      long c = cursor;
      if (c == GONE) {
        int cut = cutState;
        if (cut == DETACHED) {
          return detached();
        }
        if (cut == CUTTING) {
          return null; // the cutter decides and wakes us
        }
        if (cursor != GONE) {
          continue; // a cut was undone between our reads
        }
        if (cutState == DETACHED) {
          return detached(); // confirmed between our reads
        }
        throw new IllegalStateException("reader of stream " + stream.id + " is closed");
      }
      long skipped = skippedTo;
      if (skipped > delivered) { // a SKIP cut stands: report it
        if (!tokensAllowed) {
          return null;
        }
        StreamEvent.Gap gap = new StreamEvent.Gap(skipped, skipped - delivered);
        delivered = skipped;
        return gap;
      }
      if (c > delivered) {
        return null; // a SKIP still being decided, or being undone: the cutter wakes us
      }
      long next = c + 1;
      long t = 0;
      if (next > knownCount) {
        t = ring.tail();
        knownCount = t & COUNT_MASK;
      }
      if (next <= knownCount) {
        if (!tokensAllowed) {
          return null;
        }
        Object token = ring.tokenAt(next);
        if (!CURSOR.compareAndSet(this, c, next)) {
          continue; // closed, cut or skipped while we read: what we read may be stale
        }
        delivered = next;
        ring.readerAdvanced(next);
        return token instanceof TokenRing.Kinded k
            ? new StreamEvent.Token(next, k.kind(), k.text())
            : new StreamEvent.Token(next, TokenKind.TEXT, (String) token);
      }
      if (statusOf(t) != S_RUNNING) {
        StreamEvent.Terminal term = stream.terminalEvent();
        if (term != null) {
          return finish(term);
        }
        // The winner is between sealing the tail and writing the terminal: a few instructions,
        // after which it wakes this reader again.
      }
      return null;
    }
  }

  private StreamEvent detached() {
    finished = true;
    String reason = cutReason;
    return new StreamEvent.Detached(delivered, reason != null ? reason : "reader too slow");
  }

  private StreamEvent finish(StreamEvent.Terminal term) {
    finished = true;
    delivered = term.sequence();
    stream.readerLeft(this, TokenRing.FINISHED, release(), null);
    stream.terminalDelivered();
    return term;
  }

  /** Stops gating; returns the position it had, or GONE if it had already stopped. */
  long release() {
    return (long) CURSOR.getAndSet(this, GONE);
  }

  /**
   * Starts a cut of this reader at {@code expected}: a DETACH (to GONE, {@code newest} ignored) when
   * {@code reason} is non-null, else a SKIP to {@code newest}; see the notes. The reader waits
   * (CUTTING) until the cutter decides.
   *
   * @return true if the cut stands: the caller must then {@link #confirmCut} it (after taking the
   *     reader out of the ring, for a DETACH); false if the reader moved first, or the stream had
   *     ended with every token after {@code expected} intact (the cut is undone and the reader woken)
   */
  boolean cut(long expected, @Nullable String reason, long newest) {
    if (!CUT_STATE.compareAndSet(this, FREE, CUTTING)) {
      return false; // another cutter owns it (or it was detached): not ours to touch
    }
    long target = reason != null ? GONE : newest;
    cutReason = reason;
    if (!CURSOR.compareAndSet(this, expected, target)) {
      cutReason = null;
      cutState = FREE;
      return false;
    }
    long t = ring.tail(); // after the cursor moved
    if (statusOf(t) != S_RUNNING && expected + 1 >= ring.firstRetained(t & COUNT_MASK)) {
      // Landed after the end, and nothing after the reader was overwritten in the meantime: the
      // limit read after the tail covers every slot the producer may still write (pair A'').
      CURSOR.compareAndSet(this, target, expected); // if closed meanwhile, it is out of the ring
      cutReason = null;
      cutState = FREE;
      wake();
      return false;
    }
    return true;
  }

  /**
   * Lets the reader see the cut that {@link #cut} decided: Detached, or a Gap to {@code newest}
   * (the same value given to cut). Cutter only.
   */
  void confirmCut(long newest) {
    if (cutReason != null) {
      cutState = DETACHED;
    } else {
      skippedTo = newest; // before FREE: the reader reports the gap from it
      cutState = FREE;
    }
    wake();
  }

  /** When this reader was validated (ticker nanos): a slow-reader clock never starts earlier. */
  long attachedAt() {
    return attachedAt;
  }

  /** Tells the reader that something changed: unparks a blocked reader, or signals a Flow one. */
  void wake() {
    Runnable s = signal;
    if (s != null) {
      s.run();
      return;
    }
    Thread w = waiter;
    if (w != null && WAITER.compareAndSet(this, w, null)) {
      LockSupport.unpark(w); // claimed: one unpark per park, however many tokens are published
    }
  }

  @Override
  public long lastSequence() {
    return delivered;
  }

  @Override
  public boolean isFinished() {
    return finished;
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    stream.readerLeft(this, finished ? TokenRing.FINISHED : TokenRing.CLOSED, release(), null);
    wake(); // after the cursor: a reader parked in poll wakes and finds itself closed
  }

  @Override
  public String toString() {
    return "Reader[" + stream.id + ", after " + delivered + (finished ? ", finished" : "") + "]";
  }

  private static final VarHandle CURSOR;
  private static final VarHandle WAITER;
  private static final VarHandle CUT_STATE;

  static {
    try {
      CURSOR = MethodHandles.lookup().findVarHandle(DefaultReader.class, "cursor", long.class);
      WAITER = MethodHandles.lookup().findVarHandle(DefaultReader.class, "waiter", Thread.class);
      CUT_STATE = MethodHandles.lookup().findVarHandle(DefaultReader.class, "cutState", int.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }
}
