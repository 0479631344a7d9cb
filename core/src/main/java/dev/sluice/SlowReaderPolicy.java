package dev.sluice;

/**
 * What happens to a reader that holds its stream's producer back for longer than the slow-reader
 * timeout (set with {@link StreamManager.Builder#slowReaderTimeout}). Until then a slow reader is
 * ordinary backpressure: the producer waits for it, as it waits for every attached reader.
 */
public enum SlowReaderPolicy {
  /**
   * Cut the reader off: its last event is {@link StreamEvent.Detached} with a "too slow" reason,
   * and the stream goes on for the others. If it was the last reader, the {@link DetachPolicy}
   * applies as for any detach. The default.
   */
  DETACH,
  /**
   * Keep the reader, but move it to the newest token: it receives a {@link StreamEvent.Gap} saying
   * how many tokens it missed, then continues. For readers that prefer fresh data to complete data.
   */
  SKIP
}
