package dev.sluice;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.util.concurrent.ArrayBlockingQueue;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IL_Result;
import org.openjdk.jcstress.infra.results.L_Result;
import org.openjdk.jcstress.infra.results.ZLZ_Result;

/**
 * Invariant 3, the terminal event is delivered exactly once, and last: a reader racing a cancel
 * against the producer's last tokens sees tokens in order, then exactly one terminal; never a token
 * after it, never two, never none.
 *
 * <p>The reader's transcript is its token texts then the terminal status ({@code "a b COMPLETED"});
 * {@link Stress#drain} writes any breach of the event contract into it (wrong sequence number, token
 * count disagreeing with the terminal, an event after the terminal, no terminal), so that it matches
 * no acceptable outcome.
 */
public final class Invariant_03_TerminalExactlyOnceLast {

  private Invariant_03_TerminalExactlyOnceLast() {}

  static final DefaultStreamManager MANAGER = Stress.manager(b -> b.bufferSize(2));

  /**
   * The real worker sends "a", "b", "c" and completes; the reader takes one event, cancels, and reads
   * on: the cancel races the last tokens and the completion, and the reading races the publishing.
   */
  @JCStressTest
  @Description("reader cancels while the worker sends its last tokens and completes")
  @Outcome(id = "true, a CANCELLED, false", expect = ACCEPTABLE, desc = "cancelled after token 1")
  @Outcome(id = "true, a b CANCELLED, false", expect = ACCEPTABLE, desc = "cancelled after token 2")
  @Outcome(id = "true, a b c CANCELLED, false", expect = ACCEPTABLE, desc = "cancelled after the last token")
  @Outcome(id = "false, a b c COMPLETED, false", expect = ACCEPTABLE, desc = "completed before the cancel")
  @Outcome(expect = FORBIDDEN, desc = "lost, reordered, duplicated or missing terminal; or cancel disagrees")
  @State
  public static class CancelRacesLastTokens {
    final DefaultStream stream = Stress.stream(MANAGER, Stress.sending("a", "b", "c"));
    final StreamReader reader = stream.attach();

    @Actor
    public void worker(ZLZ_Result r) {
      stream.runWorker();
      r.r3 = Thread.interrupted(); // the cancel's interrupt must not outlive the source
    }

    @Actor
    public void reader(ZLZ_Result r) {
      String first = Stress.drainOne(reader);
      boolean cancelled = stream.cancel();
      r.r1 = cancelled;
      r.r2 = first + Stress.drain(reader, 2);
    }
  }

  /**
   * A producer (no worker) sends "a" and "b" while a client cancels and then reads: the read races
   * the producer's in-flight token, written into its slot but refused by the seal.
   */
  @JCStressTest
  @Description("client cancels then reads while a producer sends")
  @Outcome(id = "0, CANCELLED", expect = ACCEPTABLE, desc = "cancelled before any token")
  @Outcome(id = "1, a CANCELLED", expect = ACCEPTABLE, desc = "cancelled after token 1")
  @Outcome(id = "2, a b CANCELLED", expect = ACCEPTABLE, desc = "cancelled after token 2")
  @Outcome(expect = FORBIDDEN, desc = "lost, refused-but-read, duplicated, or missing terminal")
  @State
  public static class CancelThenReadRacesSend {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});
    final StreamReader reader = stream.attach();

    @Actor
    public void producer(IL_Result r) {
      int sent = 0;
      try {
        stream.send("a");
        sent++;
        stream.send("b");
        sent++;
      } catch (StreamCancelledException expected) {
        // refused: the cancel came first
      }
      r.r1 = sent;
    }

    @Actor
    public void client(IL_Result r) {
      stream.cancel();
      r.r2 = Stress.drain(reader, 1);
    }
  }

  /**
   * The seed's bug #3, modelled: the terminal event goes through the same context-checked {@code
   * sendEvent} as the tokens, so once the client has cancelled, the final "cancelled" event can never
   * be sent — the muted messenger. The client then reads what the channel holds. Expected to fail:
   * the transcript has no terminal.
   */
  @JCStressTest
  @Description("SEED MODEL (expected to fail): the terminal event sent through a context-checked send")
  @Outcome(id = "a COMPLETED", expect = ACCEPTABLE, desc = "completed before the cancel")
  @Outcome(id = "(a )?CANCELLED", expect = ACCEPTABLE, desc = "the cancelled status got through")
  @Outcome(id = "(a )?NO-TERMINAL", expect = FORBIDDEN, desc = "muted messenger: the stream ended without a final status")
  @Outcome(expect = FORBIDDEN, desc = "anything else")
  @State
  public static class SeedContextCheckedTerminalSend {
    final ArrayBlockingQueue<String> streamChan = new ArrayBlockingQueue<>(8);
    volatile boolean ctxDone;

    /** {@code select { case <-ctx.Done(): return ctx.Err(); case streamChan <- e: return nil }}. */
    boolean sendEvent(String event) {
      if (ctxDone) {
        return false;
      }
      return streamChan.offer(event);
    }

    @Actor
    public void worker() {
      if (sendEvent("a")) {
        if (sendEvent("COMPLETED")) {
          return;
        }
      }
      sendEvent("CANCELLED"); // handleLLMStreamError: the final status, through the same checked send
    }

    @Actor
    public void client() {
      ctxDone = true; // POST /chat/cancel
    }

    @Arbiter
    public void stream(L_Result r) {
      StringBuilder out = new StringBuilder();
      for (String e = streamChan.poll(); e != null; e = streamChan.poll()) {
        out.append(e).append(' ');
      }
      String t = out.toString();
      r.r1 = t.endsWith("COMPLETED ") || t.endsWith("CANCELLED ") ? t.trim() : t + "NO-TERMINAL";
    }
  }
}
