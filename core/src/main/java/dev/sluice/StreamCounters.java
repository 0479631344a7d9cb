package dev.sluice;

/**
 * A snapshot of a {@link StreamManager}'s counters. Each value is exact when read; the snapshot as a
 * whole is not atomic. Cumulative counters only grow; the gauges ({@code running}, {@code queued},
 * {@code retained}) go up and down.
 *
 * @param submitted streams accepted by {@code submit} (rejected ones not included)
 * @param rejected {@code submit} calls rejected because the queue was full
 * @param running gauge: worker slots in use, including sources still returning after their stream
 *     ended
 * @param queued gauge: streams waiting for a worker slot
 * @param completed streams that ended {@code COMPLETED}
 * @param cancelled streams that ended {@code CANCELLED}
 * @param failed streams that ended {@code FAILED}
 * @param timedOut streams that ended {@code TIMED_OUT}
 * @param retained gauge: ended streams still in the registry, waiting to be read or to expire
 * @param evicted ended streams removed by the retention timer
 * @param tokensSent tokens accepted by {@link TokenSink#send}
 * @param tokensDroppedAfterCancel {@link TokenSink#send} calls refused because the stream had ended
 * @param ignoredCancellation sources that had not returned within the stop timeout after their
 *     stream was cancelled, timed out or closed
 */
public record StreamCounters(
    long submitted,
    long rejected,
    long running,
    long queued,
    long completed,
    long cancelled,
    long failed,
    long timedOut,
    long retained,
    long evicted,
    long tokensSent,
    long tokensDroppedAfterCancel,
    long ignoredCancellation) {

  /** Streams that have ended, whichever way: completed + cancelled + failed + timed out. */
  public long ended() {
    return completed + cancelled + failed + timedOut;
  }
}
