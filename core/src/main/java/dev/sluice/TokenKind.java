package dev.sluice;

/**
 * What a token carries. LLM streams interleave the answer with the model's reasoning ("thinking")
 * and with tool-call deltas; a source says which each token is, and a reader (or an SSE client)
 * shows, hides or routes them by kind. All kinds share one sequence, so resuming after any event
 * works the same way.
 */
public enum TokenKind {
  /** Answer text, what a chat client shows; the default. */
  TEXT,
  /** Reasoning ("thinking") text, which a client may show apart or hide. */
  REASONING,
  /**
   * A tool-call delta, in the source's own encoding (for OpenAI-compatible sources, the JSON of one
   * {@code tool_calls} delta: index, id, function name, an arguments fragment).
   */
  TOOL_CALL
}
