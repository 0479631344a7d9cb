/**
 * A conformance kit for {@link dev.sluice.TokenSource} adapters: extend {@link
 * dev.sluice.testkit.TokenSourceConformance} in a test, return a fresh source from one method, and
 * the inherited JUnit 5 tests check that the source stops when its stream is cancelled, closes its
 * upstream, never sends after cancellation, reports failures by throwing and handles interrupts.
 */
@NullMarked
package dev.sluice.testkit;

import org.jspecify.annotations.NullMarked;
