/**
 * Sluice used as a user would: an SSE chat server on the JDK's built-in HTTP server ({@link
 * dev.sluice.examples.ChatServer}), an OpenAI-compatible token source over {@code java.net.http}
 * ({@link dev.sluice.examples.OpenAiTokenSource}), a fake model for running without a network ({@link
 * dev.sluice.examples.FakeLlm}), and the command line with its {@code serve} and {@code demo} modes
 * ({@link dev.sluice.examples.Main}).
 */
@NullMarked
package dev.sluice.examples;

import org.jspecify.annotations.NullMarked;
