package dev.sluice;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.time.Duration;
import java.util.NoSuchElementException;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.LLL_Result;

/**
 * Issue 10, S2: a slow-reader cut racing the end of the stream. A reader that is cut first gets
 * {@code Detached}; a reader still attached when the stream ends gets its retained tokens and the
 * terminal event, never {@code Detached} after the end.
 *
 * <p>Buffer 1, slow-reader timeout 1 ns (the Stress ticker moves 1 ns per read), DETACH, and the
 * last reader detaching cancels. The reader R has read nothing; t1 is published and the producer
 * blocks on t2. Actors: the producer, the stream's timer task (an actor is the timer thread), and a
 * canceller, which records whether R was still attached (not cut) right after its cancel() won.
 *
 * <p>Internal entry points: {@code DefaultStream.scheduleNext(long)} to capture the stream's timer
 * task ({@link Stress#takeTimer()}), and {@code DefaultReader.position()} / {@code
 * DefaultReader.GONE} to tell whether R was cut before the end.
 */
public final class SlowReader_01_CutRacesEnd {

  private SlowReader_01_CutRacesEnd() {}

  static final DefaultStreamManager MANAGER =
      Stress.manager(
          b ->
              b.bufferSize(1)
                  .slowReaderTimeout(Duration.ofNanos(1))
                  .slowReaderPolicy(SlowReaderPolicy.DETACH)
                  .detachPolicy(DetachPolicy.CANCEL)
                  .deadline(Duration.ofHours(1))); // a deadline, so that the stream has a timer task

  /** The stream's timer task, captured on the constructing thread. */
  static Runnable timerTask(DefaultStream stream) {
    Stress.pollTimer();
    stream.scheduleNext(Stress.TICKER.read());
    return Stress.takeTimer();
  }

  /**
   * What the reader has, read now without waiting: token texts, then the last event ("CANCELLED",
   * "DETACHED", ...), or "NONE" if nothing more is ready.
   */
  static String transcript(StreamReader reader) {
    StringBuilder out = new StringBuilder();
    try {
      for (int i = 0; i < 8; i++) {
        StreamEvent e = reader.poll(Duration.ZERO);
        if (e == null) {
          return out.append("NONE").toString();
        }
        if (e instanceof StreamEvent.Token t) {
          out.append(t.text()).append(' ');
        } else if (e instanceof StreamEvent.Terminal t) {
          return out.append(t.status()).toString();
        } else if (e instanceof StreamEvent.Detached) {
          return out.append("DETACHED").toString();
        } else {
          return out.append("GAP").toString();
        }
      }
      return out.append("MORE").toString();
    } catch (NoSuchElementException e) {
      return out.append("-").toString();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return out.append("INTERRUPTED").toString();
    } catch (RuntimeException e) {
      return out.append(e.getClass().getSimpleName()).toString();
    }
  }

  @JCStressTest
  @Description("the slow-reader timer cuts a reader while the stream is cancelled")
  @Outcome(id = "t1 CANCELLED, attached, refused", expect = ACCEPTABLE, desc = "ended first: the reader gets its token and the terminal")
  @Outcome(id = "DETACHED, gone, refused", expect = ACCEPTABLE, desc = "cut first; cancel() won before the last-reader policy")
  @Outcome(id = "DETACHED, lost, refused", expect = ACCEPTABLE, desc = "cut first; the last-reader policy cancelled")
  @Outcome(id = "DETACHED, attached, refused", expect = FORBIDDEN, desc = "cut after the end: Detached instead of the terminal")
  @Outcome(expect = FORBIDDEN, desc = "anything else")
  @State
  public static class CutRacesCancel {
    final DefaultStream stream = Stress.stream(MANAGER, sink -> {});
    final StreamReader reader = stream.attach();
    final Runnable timer;

    public CutRacesCancel() {
      stream.send("t1");
      timer = timerTask(stream);
    }

    @Actor
    public void producer(LLL_Result r) {
      try {
        stream.send("t2"); // blocks: R read nothing
        r.r3 = "sent";
      } catch (StreamCancelledException e) {
        r.r3 = "refused";
      }
    }

    @Actor
    public void timer() {
      timer.run();
      Stress.forget();
    }

    @Actor
    public void canceller(LLL_Result r) {
      if (!stream.cancel()) {
        r.r2 = "lost";
      } else {
        r.r2 = ((DefaultReader) reader).position() != DefaultReader.GONE ? "attached" : "gone";
      }
    }

    @Arbiter
    public void arbiter(LLL_Result r) {
      r.r1 = transcript(reader);
    }
  }
}
