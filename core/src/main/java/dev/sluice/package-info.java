/**
 * Sluice: concurrent, cancellable token streams.
 *
 * <p>Start at {@link dev.sluice.StreamManager}: it runs {@link dev.sluice.TokenSource}s, hands out a
 * {@link dev.sluice.StreamHandle} per stream, and owns timers, admission and cleanup. Every type in
 * this package is an interface, a value type or the builder; implementations are package-private.
 */
@NullMarked
package dev.sluice;

import org.jspecify.annotations.NullMarked;
