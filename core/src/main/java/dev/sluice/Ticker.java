package dev.sluice;

/**
 * A monotonic time source in nanoseconds, like {@link System#nanoTime()}. Inject a fake one in tests
 * to make timeouts deterministic.
 */
@FunctionalInterface
public interface Ticker {

  /** Nanoseconds from an arbitrary origin; only differences are meaningful. */
  long read();

  /** The system ticker, {@link System#nanoTime()}. */
  static Ticker system() {
    return SystemTicker.INSTANCE;
  }
}

/** The default {@link Ticker}. */
enum SystemTicker implements Ticker {
  INSTANCE;

  @Override
  public long read() {
    return System.nanoTime();
  }
}
