package dev.sluice.testkit;

import java.io.Closeable;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * A stand-in for an LLM provider's streaming HTTP endpoint, the "mock server" of the examples: a
 * response generates one token per interval, and the provider bills every token it generates until
 * the response is closed, whether anyone reads it or not.
 */
final class FakeProvider {

  private static final ScheduledExecutorService CLOCK =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "fake-provider");
            t.setDaemon(true);
            return t;
          });

  private static final Object END = new Object();

  private final Duration interval;
  private final int failAfter;
  private final AtomicLong billed = new AtomicLong();
  private final AtomicInteger open = new AtomicInteger();

  /** A provider that generates one token per {@code interval}. */
  FakeProvider(Duration interval) {
    this(interval, -1);
  }

  private FakeProvider(Duration interval, int failAfter) {
    this.interval = interval;
    this.failAfter = failAfter;
  }

  /** The same provider, except that each response fails (HTTP 500) after {@code tokens} tokens. */
  FakeProvider failingAfter(int tokens) {
    return new FakeProvider(interval, tokens);
  }

  /** Tokens generated (and billed) so far, by all responses. */
  long billed() {
    return billed.get();
  }

  /** Responses opened and not yet closed. */
  int openResponses() {
    return open.get();
  }

  /** Starts a streamed completion of {@code tokens} tokens made of the words of {@code prompt}. */
  Response stream(String prompt, int tokens) {
    return new Response(prompt.split(" "), tokens);
  }

  /** One streamed response: read it token by token, close it to stop generation. */
  final class Response implements Closeable {
    private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private final ScheduledFuture<?> generator;
    private final String[] words;
    private final int tokens;
    private int generated; // generator thread only
    private boolean done; // generator thread only
    private final AtomicBoolean closed = new AtomicBoolean();

    Response(String[] words, int tokens) {
      this.words = words;
      this.tokens = tokens;
      open.incrementAndGet();
      long nanos = interval.toNanos();
      generator = CLOCK.scheduleAtFixedRate(this::generate, nanos, nanos, TimeUnit.NANOSECONDS);
    }

    private void generate() {
      if (closed.get() || done) {
        return;
      }
      if (generated == failAfter) {
        queue.add(new IOException("HTTP 500 from the provider after " + generated + " tokens"));
        done = true;
      } else if (generated == tokens) {
        queue.add(END);
        done = true;
      } else {
        billed.incrementAndGet();
        queue.add(words[generated % words.length] + "#" + generated);
        generated++;
      }
    }

    /**
     * Returns the next token, waiting for it; null at the end of the response.
     *
     * @throws IOException if the provider failed, or the response was closed
     * @throws InterruptedException if interrupted while waiting
     */
    @Nullable String read() throws IOException, InterruptedException {
      if (closed.get()) {
        throw new IOException("response closed");
      }
      Object next = queue.take();
      if (next == END) {
        return null;
      }
      if (next instanceof IOException e) {
        throw e;
      }
      if (next instanceof String s) {
        return s;
      }
      throw new IOException("response closed");
    }

    /** Stops generation (and billing) and wakes a blocked {@link #read()}; idempotent. */
    @Override
    public void close() {
      if (closed.compareAndSet(false, true)) {
        generator.cancel(false);
        queue.add(this); // anything but a token, END or an IOException: "closed"
        open.decrementAndGet();
      }
    }
  }
}
