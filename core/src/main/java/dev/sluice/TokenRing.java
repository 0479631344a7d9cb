package dev.sluice;

import static dev.sluice.DefaultStream.COUNT_MASK;
import static dev.sluice.DefaultStream.S_RUNNING;
import static dev.sluice.DefaultStream.statusOf;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * The ring of one stream and its gate: the token slots, the tail word that publishes them and seals
 * the stream, the set of readers, and the producer's permission to write. Package-private; owned by
 * its {@link DefaultStream}.
 */
final class TokenRing {

  /*
   * Implementation notes.
   *
   * This is the only code of a stream whose correctness rests on Dekker pairs; everything else
   * (the lifecycle in DefaultStream, the timer in StreamTimer) is CAS-decided or lock-guarded.
   *
   * A single producer writes slot s & mask and then publishes it with CAS(tail: count -> count + 1)
   * while the status bits say RUNNING; a terminator seals the stream with CAS(tail: status bits).
   * So "in the stream" and "refused" are decided by one atomic step per token.
   *
   * The gate. The producer may write sequence s only while s <= permit, where permit = the
   * smallest cursor of the attached readers + capacity (or floor + capacity with none attached),
   * saturating. Writing s overwrites s - slots, and capacity <= slots, so the slots after every
   * cursor stay intact while the cursor stays. Cursors only move forward, the floor only rises, so a
   * permit once computed stays safe; only a NEW reader can lower the gate. The producer therefore
   * re-reads the reader set after every publishing CAS (it reads it anyway, to wake the readers) and
   * recomputes the permit only when the set changed: one reference comparison per token.
   *
   * Attaching. A reader is validated before it becomes visible: its position must not be beyond the
   * last token, and the token after it must still be in its slot, judged by what was written: with
   * count published, the producer may be writing slot count + 1 if its permit allows (after the end,
   * a refused send may have written it), which overwrites count + 1 - slots; everything after that is
   * intact. `limit`, the highest permit the producer ever had, is published before the producer
   * confirms the permit against the readers (pair A'), so a reader that reads the tail and then the
   * limit knows whether that slot may be in flight. Then the reader is added to the set and the
   * check is repeated against the tail read after the add: pair A guarantees that the producer sees
   * the new reader before it writes anything past count + 1. If the repeated check fails (the
   * producer overtook it in the window), the reader leaves again through the one exit, leave(), and
   * the attach fails.
   *
   * Leaving. Every way a reader stops gating -- close, a DETACH cut, its terminal delivered, a failed
   * attach -- goes through leave(): the cursor becomes GONE, the floor rises to the position it had
   * (not for a failed attach: it read nothing), it is removed from the set, and the producer is
   * woken, since the gate may have risen. leave() reports whether the last validated reader left
   * early, for the owner's detach policy.
   *
   * Parking. Each side spins briefly, then publishes its waiter and re-checks the other side's word
   * before parking; the other side writes its word and then claims the waiter by CAS before
   * unparking, so no wake-up is lost and one park costs one unpark:
   *
   *   pair  side A writes, then reads                side B writes, then reads
   *   A     attach: readers (CAS), then tail         producer: tail (CAS), then readers
   *   A'    attach: readers (CAS), tail, then limit  producer: limit, then readers
   *   A''   cutter: cursor (CAS), tail, then limit   producer: limit, then tail (before a slot)
   *   B     producer: producerWaiter, then cursors   reader: cursor (CAS), then producerWaiter
   *                   and tail                       terminator: tail (CAS), then producerWaiter
   *                                                  leave: floor, readers (CAS), then producerWaiter
   *   C     reader: its waiter, then tail, cursor    producer: tail (CAS), then reader waiters
   *         and the terminal                         terminator: terminal, then reader waiters
   *                                                  cutter/closer: cursor, then the reader's waiter
   *
   * Proofs: A -- jcstress Resume_01_RacingProducer, FanOut_01_Readers.AttachDuringCancel and the
   * failing-attach tests Attach_01_*; B -- Invariant_02_NoStuckWriter, Invariant_06_NoLostTokens;
   * C -- Invariant_03_TerminalExactlyOnceLast, Invariant_06_NoLostTokens.HandOff.
   */

  /** Returned by {@link #publish} when the stream has ended: the token was refused. */
  static final long REFUSED = 0;

  /** Returned by {@link #publish} when the producer was interrupted while waiting for space. */
  static final long INTERRUPTED = -1;

  /** How a reader leaves; see {@link #leave}. */
  static final int FINISHED = 0;

  static final int CLOSED = 1;
  static final int CUT = 2;
  static final int FAILED_ATTACH = 3;

  private static final DefaultReader[] NO_READERS = new DefaultReader[0];

  private final DefaultStream stream;
  final int capacity;
  final int mask;

  /** [status:3 | count:61]; see DefaultStream for the status transitions. */
  private volatile long tail;

  /**
   * The slots, allocated by the producer before its first publish. Non-volatile: published by the
   * CAS on {@link #tail} that publishes the first token, read only after reading a count > 0.
   */
  private @Nullable Object @Nullable [] slots;

  /** The readers gating the producer (validated, or being validated); copy-on-write, by CAS. */
  private volatile DefaultReader[] readers = NO_READERS;

  /** Highest position of validated readers that left: the gate while none is attached. Rises only. */
  private volatile long floor;

  /** Validated readers that left without their terminal event: they may come back to resume. */
  private volatile int leftEarly;

  /** The producer's thread while it is parked for space, or null. Claimed by CAS to unpark. */
  private volatile @Nullable Thread producerWaiter;

  /** The sequence the parked producer waits to write; written before {@link #producerWaiter}. */
  private volatile long pendingSeq;

  /**
   * The highest permit the producer has had, published before it re-reads the readers to confirm
   * it (pair A'): no slot past it has been written. Rises only.
   */
  private volatile long limit;

  /** Highest sequence the producer may write, computed from {@link #gated}. Producer only. */
  private long permit;

  /** The reader set {@link #permit} was computed from. Producer only. */
  private DefaultReader[] gated = NO_READERS;

  TokenRing(DefaultStream stream, int capacity, int slots) {
    this.stream = stream;
    this.capacity = capacity;
    this.mask = slots - 1;
  }

  // ------------------------------------------------------------------ tail

  long tail() {
    return tail;
  }

  long count() {
    return tail & COUNT_MASK;
  }

  boolean running() {
    return statusOf(tail) == S_RUNNING;
  }

  /**
   * Seals the stream with {@code status}: the one transition out of RUNNING.
   *
   * @return the tail word before sealing, or -1 if the stream had already ended
   */
  long seal(int status) {
    for (; ; ) {
      long t = tail;
      if (statusOf(t) != S_RUNNING) {
        return -1;
      }
      if (TAIL.compareAndSet(this, t, t | ((long) status << DefaultStream.STATUS_SHIFT))) {
        return t;
      }
    }
  }

  // ------------------------------------------------------------------ producer

  /**
   * Publishes {@code token} as the next sequence, waiting while the buffer is full. Producer only.
   *
   * @return its sequence; {@link #REFUSED} if the stream has ended; {@link #INTERRUPTED} if the
   *     thread was interrupted while waiting (the stream still runs, the interrupt is consumed)
   */
  long publish(Object token) {
    long t = tail;
    if (statusOf(t) != S_RUNNING) {
      return REFUSED;
    }
    long seq = (t & COUNT_MASK) + 1;
    if (seq > permit) {
      long waited = awaitSpace(seq);
      if (waited <= 0) {
        return waited;
      }
    }
    @Nullable Object[] s = slots;
    if (s == null) {
      slots = s = new Object[mask + 1];
    }
    s[(int) (seq & mask)] = token;
    if (!TAIL.compareAndSet(this, t, t + 1)) {
      if (statusOf(tail) != S_RUNNING) {
        return REFUSED;
      }
      throw new IllegalStateException(
          "concurrent TokenSink.send on stream " + stream.id + ": sends must not overlap");
    }
    DefaultReader[] rs = readers; // pair A: after the publishing CAS
    if (rs != gated) {
      gated = rs;
      permit = Math.min(permit, permitted(rs)); // a new reader may lower it; never raise it here
    }
    for (DefaultReader r : rs) {
      r.wake(); // never throws: a Flow reader contains its executor's failures
    }
    return seq;
  }

  /** Waits until {@code seq} fits; returns seq, REFUSED or INTERRUPTED. Producer only. */
  private long awaitSpace(long seq) {
    int spins = DefaultStream.SPINS;
    boolean blocked = false;
    try {
      for (; ; ) {
        DefaultReader[] rs = readers;
        long allowed = permitted(rs);
        if (seq <= allowed && allowed > limit) {
          limit = allowed; // pair A': publish, then confirm against the readers
          rs = readers;
          allowed = Math.min(allowed, permitted(rs));
        }
        if (statusOf(tail) != S_RUNNING) {
          // Also on success: after the limit publication, so that whoever reads the tail ended and
          // then the limit knows every slot this producer may still write (pair A'').
          return REFUSED;
        }
        if (seq <= allowed) {
          gated = rs;
          permit = allowed;
          return seq;
        }
        if (spins > 0) {
          --spins;
          Thread.onSpinWait();
          continue;
        }
        pendingSeq = seq; // before the slow-reader clock starts: the cutter judges by it
        if (!blocked) {
          blocked = true;
          stream.producerBlocked();
        }
        Thread me = Thread.currentThread();
        producerWaiter = me; // pair B
        if (seq > permitted(readers) && statusOf(tail) == S_RUNNING) {
          LockSupport.park(this);
        }
        producerWaiter = null;
        if (Thread.interrupted()) {
          return INTERRUPTED;
        }
      }
    } finally {
      if (blocked) {
        stream.producerUnblocked();
      }
    }
  }

  /** The slowest reader's position plus the buffer, or floor plus the buffer; saturates. */
  private long permitted(DefaultReader[] rs) {
    long g = DefaultReader.GONE;
    for (DefaultReader r : rs) {
      g = Math.min(g, r.position());
    }
    if (g == DefaultReader.GONE) {
      g = floor;
    }
    return g > Long.MAX_VALUE - capacity ? Long.MAX_VALUE : g + capacity;
  }

  /** The sequence the producer waits to write while parked, else a sequence already written. */
  long pendingSeq() {
    return pendingSeq;
  }

  /**
   * Called by a reader that moved its cursor to {@code position}: wakes a parked producer once it
   * could write half a buffer, not at the first free slot, so that a fast producer and reader do
   * not trade one wake-up per token. Live: a reader that has read everything leaves the producer a
   * whole buffer, which crosses the threshold.
   */
  void readerAdvanced(long position) {
    Thread w = producerWaiter;
    if (w != null
        && position + capacity - pendingSeq + 1 >= Math.max(1, capacity >> 1)
        && PRODUCER_WAITER.compareAndSet(this, w, null)) {
      LockSupport.unpark(w);
    }
  }

  /** Wakes the producer if it is parked for space, whatever it could write now. */
  void wakeProducer() {
    Thread w = producerWaiter;
    if (w != null && PRODUCER_WAITER.compareAndSet(this, w, null)) {
      LockSupport.unpark(w);
    }
  }

  // ------------------------------------------------------------------ readers

  /**
   * The slot of token {@code seq}: its text (a TEXT token) or a {@link Kinded}; the caller has read
   * a count >= seq from the tail.
   */
  Object tokenAt(long seq) {
    @Nullable Object[] s = slots;
    if (s == null) {
      throw new IllegalStateException("stream " + stream.id + ": no buffer for token " + seq);
    }
    Object token = s[(int) (seq & mask)];
    if (token == null) {
      throw new IllegalStateException("stream " + stream.id + ": token " + seq + " missing");
    }
    return token;
  }

  /** A slot's content for a token of another kind than TEXT (TEXT tokens are stored bare). */
  record Kinded(TokenKind kind, String text) {}

  /**
   * Validates {@code r}'s position, then makes it visible to the producer; see the notes. On
   * success the reader is validated and the producer woken (the gate may have risen: with no reader
   * attached it was the floor).
   *
   * @throws IllegalArgumentException if {@code lastSequence} is beyond the last token
   * @throws EventsDroppedException if the token after it is no longer in its slot
   */
  void attach(DefaultReader r, long lastSequence) {
    check(lastSequence, tail); // before it is visible: a hostile position never reaches the gate
    addReader(r);
    try {
      check(lastSequence, tail); // pair A: the tail read after the add
    } catch (RuntimeException e) {
      r.release();
      leave(r, FAILED_ATTACH, DefaultReader.GONE);
      throw e;
    }
    r.validate(stream.manager.now());
    wakeProducer();
  }

  private void check(long lastSequence, long t) {
    long count = t & COUNT_MASK;
    boolean ended = statusOf(t) != S_RUNNING;
    if (lastSequence > count) {
      throw new IllegalArgumentException(
          "lastSequence "
              + lastSequence
              + " is beyond the last event of stream "
              + stream.id
              + " ("
              + (ended ? "terminal event " + (count + 1) : "last token " + count)
              + ")");
    }
    long firstRetained = firstRetained(count);
    if (lastSequence < count && lastSequence + 1 < firstRetained) {
      throw new EventsDroppedException(stream.id, lastSequence + 1, firstRetained);
    }
  }

  /**
   * The first sequence certainly intact with {@code count} tokens published (read from the tail
   * just before): the producer may be writing slot count + 1 if its permit allows it (or, after the
   * end, a refused send may have written it), and nothing beyond without seeing the caller's reader.
   */
  long firstRetained(long count) {
    return Math.max(1, Math.min(count + 1, limit) - mask);
  }



  /**
   * Stops {@code r} gating the producer; the one exit for every reader. Idempotent.
   *
   * @param how FINISHED, CLOSED, CUT or FAILED_ATTACH
   * @param position the position the reader had; GONE if unknown or it read nothing
   * @return true if a validated reader left early and no validated reader remains: the detach
   *     policy applies
   */
  boolean leave(DefaultReader r, int how, long position) {
    if (how != FAILED_ATTACH && position != DefaultReader.GONE) {
      raiseFloor(position);
    }
    if (!removeReader(r)) {
      return false;
    }
    wakeProducer(); // pair B: after the floor and the set
    if (how != CLOSED && how != CUT) {
      return false;
    }
    LEFT_EARLY.getAndAdd(this, 1);
    return !anyValidated();
  }

  /** Whether a validated reader is attached. */
  boolean anyValidated() {
    for (DefaultReader r : readers) {
      if (r.isValidated()) {
        return true;
      }
    }
    return false;
  }

  /**
   * Whether delivering the terminal event to the last reader may remove the stream: no reader is
   * attached and none left early (one that did may come back to resume).
   */
  boolean nobodyElseNeedsIt() {
    return readers.length == 0 && leftEarly == 0;
  }

  /** Wakes every reader parked in poll; Flow readers are signalled by {@link #signalReaders}. */
  void wakeBlockingReaders() {
    for (DefaultReader r : readers) {
      if (!r.isSignalled()) {
        r.wake();
      }
    }
  }

  /** Signals every demand-driven (Flow) reader: executor calls, each contained. */
  void signalReaders() {
    for (DefaultReader r : readers) {
      if (r.isSignalled()) {
        r.wake();
      }
    }
  }

  /**
   * Applies the slow-reader policy to every validated reader holding the producer back -- more than
   * the buffer behind the token it waits to write, {@link #pendingSeq} -- for at least {@code
   * timeout}: since {@code blockedSince}, or since it attached if that was later. DETACH when
   * {@code reason} is non-null, else SKIP to the newest token.
   *
   * <p>Judged by pendingSeq, not by the count: once the producer got space and published it, every
   * gating reader is within the buffer of it, so no reader is cut for a wait that is over (a clock
   * read just before the producer got space may be stale).
   *
   * @return true if the detach policy now applies (the last validated reader was cut)
   */
  boolean cutSlowReaders(@Nullable String reason, long blockedSince, long now, long timeout) {
    long pending = pendingSeq;
    long newest = tail & COUNT_MASK;
    boolean last = false;
    for (DefaultReader r : readers) {
      long c = r.position();
      if (c == DefaultReader.GONE
          || !r.isValidated()
          || pending <= c + capacity
          || now - Math.max(blockedSince, r.attachedAt()) < timeout) {
        continue;
      }
      if (r.cut(c, reason, newest)) {
        if (reason != null) {
          last |= leave(r, CUT, c); // out of the ring before the reader can see Detached
        }
        r.confirmCut(newest);
        stream.logCut(r, reason, newest - c);
      }
    }
    wakeProducer();
    return last;
  }

  private void raiseFloor(long position) {
    for (long f = floor; position > f; f = floor) {
      if (FLOOR.compareAndSet(this, f, position)) {
        return;
      }
    }
  }

  private void addReader(DefaultReader r) {
    for (; ; ) {
      DefaultReader[] old = readers;
      DefaultReader[] grown = Arrays.copyOf(old, old.length + 1);
      grown[old.length] = r;
      if (READERS.compareAndSet(this, old, grown)) {
        return;
      }
    }
  }

  private boolean removeReader(DefaultReader r) {
    for (; ; ) {
      DefaultReader[] old = readers;
      int i = 0;
      while (i < old.length && old[i] != r) {
        i++;
      }
      if (i == old.length) {
        return false;
      }
      DefaultReader[] shrunk = old.length == 1 ? NO_READERS : new DefaultReader[old.length - 1];
      System.arraycopy(old, 0, shrunk, 0, i);
      System.arraycopy(old, i + 1, shrunk, i, old.length - i - 1);
      if (READERS.compareAndSet(this, old, shrunk)) {
        return true;
      }
    }
  }

  private static final VarHandle TAIL;
  private static final VarHandle READERS;
  private static final VarHandle FLOOR;
  private static final VarHandle LEFT_EARLY;
  private static final VarHandle PRODUCER_WAITER;

  static {
    try {
      MethodHandles.Lookup l = MethodHandles.lookup();
      TAIL = l.findVarHandle(TokenRing.class, "tail", long.class);
      READERS = l.findVarHandle(TokenRing.class, "readers", DefaultReader[].class);
      FLOOR = l.findVarHandle(TokenRing.class, "floor", long.class);
      LEFT_EARLY = l.findVarHandle(TokenRing.class, "leftEarly", int.class);
      PRODUCER_WAITER = l.findVarHandle(TokenRing.class, "producerWaiter", Thread.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }
}
