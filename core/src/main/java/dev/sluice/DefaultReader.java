package dev.sluice;

import static dev.sluice.DefaultStream.CONSUMED_MASK;
import static dev.sluice.DefaultStream.COUNT_MASK;
import static dev.sluice.DefaultStream.S_RUNNING;
import static dev.sluice.DefaultStream.statusOf;

import java.time.Duration;
import java.util.NoSuchElementException;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/** The {@link StreamReader} of a {@link DefaultStream}. Package-private. */
final class DefaultReader implements StreamReader {

  /*
   * Implementation notes.
   *
   * A reader is a cursor (the last sequence returned) plus its epoch of the stream's gate. Tokens at
   * or below the gate's consumed part were delivered before (a resume replays them from the replay
   * window); a token above it moves the gate, which is what lets the producer go on. The gate CAS
   * carries the reader's epoch, so a reader that a newer attach replaced can no longer move it, and
   * replayed tokens are checked against the epoch after they are read.
   *
   * Fields other than `closed` belong to the reading thread (one at a time, per the contract).
   */

  private final DefaultStream stream;

  /** The gate's epoch bits for this reader. */
  private long epochBits;

  /** The gate's consumed part as this reader last set or saw it. */
  private long gateSeen;

  /** Sequence number of the last event returned. */
  private long cursor;

  /** Token count last read from the stream's tail; tokens up to it can be read without a fence. */
  private long knownCount;

  private boolean finished;

  /** Set by close(), from any thread. */
  private volatile boolean closed;

  DefaultReader(DefaultStream stream) {
    this.stream = stream;
  }

  void start(long epochBits, long consumed, long lastSequence) {
    this.epochBits = epochBits;
    this.gateSeen = consumed;
    this.cursor = lastSequence;
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
          "stream " + stream.id + ": the terminal event was already returned");
    }
    long deadline = timed ? System.nanoTime() + nanos : 0;
    int spins = DefaultStream.SPINS;
    for (; ; ) {
      if (closed) {
        throw new IllegalStateException("reader of stream " + stream.id + " is closed");
      }
      long c = cursor;
      if (c < knownCount) {
        return token(c + 1);
      }
      long t = stream.tailVolatile();
      long count = t & COUNT_MASK;
      if (c < count) {
        knownCount = count;
        return token(c + 1);
      }
      if (statusOf(t) != S_RUNNING) {
        StreamEvent.Terminal term = stream.terminalEvent();
        if (term != null) {
          return finish(term);
        }
        // The winner is between sealing the tail and writing the terminal: a few instructions.
      }
      if (timed && nanos <= 0) {
        return null;
      }
      if (spins > 0) {
        --spins;
        Thread.onSpinWait();
        continue;
      }
      stream.readerWaiter = Thread.currentThread();
      long again = stream.tailVolatile();
      if (again == t && !closed && (statusOf(again) == S_RUNNING || stream.terminalEvent() == null)) {
        if (timed) {
          LockSupport.parkNanos(this, nanos);
        } else {
          LockSupport.park(this);
        }
      }
      stream.readerWaiter = null;
      if (Thread.interrupted()) {
        throw new InterruptedException();
      }
      if (timed) {
        nanos = deadline - System.nanoTime();
      }
    }
  }

  private StreamEvent token(long seq) {
    String text = stream.tokenAt(seq);
    if (seq > gateSeen) {
      if (!stream.advanceGate(epochBits | gateSeen, epochBits | seq)) {
        throw detached();
      }
      gateSeen = seq;
    } else if ((stream.gateVolatile() & ~CONSUMED_MASK) != epochBits) {
      throw detached(); // a replayed slot read while another reader owned the gate: not trusted
    }
    cursor = seq;
    return new StreamEvent.Token(seq, text);
  }

  private StreamEvent finish(StreamEvent.Terminal term) {
    finished = true;
    cursor = term.sequence();
    stream.detach(this, true);
    stream.terminalDelivered();
    return term;
  }

  private IllegalStateException detached() {
    closed = true;
    return new IllegalStateException(
        "reader of stream " + stream.id + " was replaced by a newer reader");
  }

  @Override
  public long lastSequence() {
    return cursor;
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
    Thread w = stream.readerWaiter;
    if (w != null) {
      LockSupport.unpark(w);
    }
    stream.detach(this, finished);
  }

  @Override
  public String toString() {
    return "Reader[" + stream.id + ", after " + cursor + (finished ? ", finished" : "") + "]";
  }
}
