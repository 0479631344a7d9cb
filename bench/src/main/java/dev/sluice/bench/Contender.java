package dev.sluice.bench;

/**
 * One way of moving tokens from a producer to a reader: Sluice or one of its peers. Every contender
 * uses a buffer of {@link Tokens#BUFFER} tokens, runs the producer on a worker thread, and delivers
 * tokens then exactly one end signal to a {@link Reader}.
 */
public interface Contender extends AutoCloseable {

  /** The short name used in tables: sluice, abq, submission-publisher, reactor, spsc. */
  String name();

  /**
   * Opens a stream: runs {@code source} on a producer thread and delivers its tokens to {@code
   * reader}, on a reader thread (pull contenders) or on the contender's delivery thread (push ones).
   */
  Stream open(Source source, Reader reader);

  /**
   * Opens a stream whose reader is attached but not reading (no reader thread): the footprint shape
   * of P3. Tokens, if any, stay in the buffer.
   */
  Stream openIdle(Source source);

  @Override
  void close();

  /** The producer's code: writes tokens to {@code out}. */
  @FunctionalInterface
  interface Source {
    void run(Out out) throws Exception;
  }

  /** Where a producer writes; {@code send} blocks while the buffer is full and throws once cancelled. */
  @FunctionalInterface
  interface Out {
    void send(String token) throws Exception;
  }

  /** The reader's callbacks: tokens in order, then one {@code onEnd}. May block. */
  interface Reader {
    void onToken(String token);

    void onEnd(boolean cancelled);
  }

  /** An open stream. */
  interface Stream {
    /** Cancels it the way a user of this contender would. */
    void cancel();
  }
}
