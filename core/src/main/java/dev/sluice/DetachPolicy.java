package dev.sluice;

/**
 * What happens to a stream when its last attached reader goes away before receiving the terminal
 * event (closed, or cut off as too slow). Readers that leave while others stay change nothing.
 */
public enum DetachPolicy {
  /**
   * Cancel the stream: the client went away, so stop paying for tokens. The default, and the seed
   * chat server's behaviour.
   */
  CANCEL,
  /**
   * Keep the stream running so that a client can reconnect and resume with the last sequence number
   * it saw. The producer stops at a full buffer; the no-reader timeout bounds how long the stream
   * waits for a new reader.
   */
  KEEP_RUNNING
}
