package dev.sluice;

import static dev.sluice.TestStreams.outcome;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.StreamOutcome.Status;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Stream ids cannot be guessed, and owner scoping hides a stream completely from other owners.
 *
 * <p>The id tests are statistical with bounds at 6 standard deviations or more: a correct
 * implementation fails them with probability below 1e-8 per run, while a counter, a timestamp or a
 * random-plus-counter scheme fails them every time.
 */
@Timeout(60)
class SecurityTest {

  static final int N = 1_000_000;

  @Test
  void streamIds_millionAreUnique_uniformPerBit_andUncorrelatedWithThePrevious() {
    StreamIds ids = new StreamIds();
    long[] hi = new long[N];
    long[] bitSet = new long[128];
    long[] bitSameAsPrevious = new long[128];
    long hammingToPrevious = 0;
    long closeToPrevious = 0;
    long prevHi = 0;
    long prevLo = 0;
    for (int i = 0; i < N; i++) {
      String id = ids.next();
      if (!id.matches("[A-Za-z0-9_-]{22}")) {
        throw new AssertionError("not 22 URL-safe characters: " + id);
      }
      ByteBuffer b = ByteBuffer.wrap(Base64.getUrlDecoder().decode(id));
      long h = b.getLong();
      long l = b.getLong();
      hi[i] = h;
      for (int bit = 0; bit < 64; bit++) {
        bitSet[bit] += (h >>> bit) & 1;
        bitSet[64 + bit] += (l >>> bit) & 1;
      }
      if (i > 0) {
        long sameH = ~(h ^ prevHi);
        long sameL = ~(l ^ prevLo);
        for (int bit = 0; bit < 64; bit++) {
          bitSameAsPrevious[bit] += (sameH >>> bit) & 1;
          bitSameAsPrevious[64 + bit] += (sameL >>> bit) & 1;
        }
        hammingToPrevious += Long.bitCount(h ^ prevHi) + Long.bitCount(l ^ prevLo);
        // A counter (or a timestamp) in any part shows as consecutive ids that are numerically close.
        if (Math.abs(h - prevHi) < (1L << 40) || Math.abs(l - prevLo) < (1L << 40)) {
          closeToPrevious++;
        }
      }
      prevHi = h;
      prevLo = l;
    }

    // Unique: already the first 64 bits of a million ids are all different (a collision of random
    // 64-bit values among 1e6 has probability ~3e-8), so the 128-bit ids are.
    Arrays.sort(hi);
    for (int i = 1; i < N; i++) {
      assertThat(hi[i]).as("duplicate 64-bit prefix").isNotEqualTo(hi[i - 1]);
    }
    // Each bit is set half the time (binomial, sd = 500): no constant part, no counter.
    for (int bit = 0; bit < 128; bit++) {
      assertThat(bitSet[bit]).as("bit %d set", bit).isBetween(N / 2 - 3_500L, N / 2 + 3_500L);
      // ... and agrees with the same bit of the previous id half the time: not predictable from it.
      assertThat(bitSameAsPrevious[bit]).as("bit %d same as previous", bit).isBetween(N / 2 - 3_500L, N / 2 + 3_500L);
    }
    // Consecutive ids differ in 64 of 128 bits on average (sd of the mean ~ 0.006).
    double meanHamming = (double) hammingToPrevious / (N - 1);
    assertThat(meanHamming).isBetween(63.9, 64.1);
    // P(|a - b| < 2^40) for random 64-bit a, b is ~2^-23: ~0.2 expected in 2e6 comparisons.
    assertThat(closeToPrevious).as("consecutive ids numerically close").isLessThanOrEqualTo(5);
  }

  private static String malformedMessage(StreamManager m, String id) {
    try {
      m.find("mallory", id + "x");
      throw new AssertionError("accepted a malformed id");
    } catch (IllegalArgumentException e) {
      return e.getMessage().replace(id, "<id>");
    }
  }

  @Test
  void managerIds_comeFromTheRandomSource_notASharedCounter() throws Exception {
    // Two managers, interleaved: ids from one say nothing about the other's.
    try (StreamManager a = StreamManager.builder().build();
        StreamManager b = StreamManager.builder().build()) {
      List<String> all = new ArrayList<>();
      for (int i = 0; i < 2_000; i++) {
        all.add((i % 2 == 0 ? a : b).submit(sink -> {}).id());
      }
      long hamming = 0;
      for (int i = 1; i < all.size(); i++) {
        byte[] x = Base64.getUrlDecoder().decode(all.get(i - 1));
        byte[] y = Base64.getUrlDecoder().decode(all.get(i));
        for (int k = 0; k < 16; k++) {
          hamming += Integer.bitCount((x[k] ^ y[k]) & 0xff);
        }
      }
      assertThat(all).doesNotHaveDuplicates();
      assertThat((double) hamming / (all.size() - 1)).isBetween(62.0, 66.0); // sd of the mean ~0.13
    }
  }

  @Test
  void anotherOwner_cannotFindReadResumeOrCancel_andSeesTheSameAsForAnUnknownId() throws Exception {
    FakeTime time = new FakeTime();
    try (StreamManager m =
        StreamManager.builder()
            .ticker(time)
            .scheduler(time)
            .maxRunning(1)
            .queueCapacity(4)
            .removeOnDelivery(false)
            .retention(Duration.ofSeconds(30))
            .build()) {
      // A stream already removed (retention passed).
      StreamHandle gone = m.submit("alice", TestStreams.counting(1));
      assertThat(outcome(gone).status()).isEqualTo(Status.COMPLETED);
      time.advance(Duration.ofSeconds(31));
      assertThat(m.find("alice", gone.id())).isEmpty();
      String removed = gone.id();

      CountDownLatch finish = new CountDownLatch(1);
      CountDownLatch sent = new CountDownLatch(1);
      StreamHandle running = m.submit("alice", sink -> {
        sink.send("secret");
        sent.countDown();
        finish.await();
      });
      assertThat(sent.await(5, TimeUnit.SECONDS)).isTrue();
      StreamHandle queued = m.submit("alice", TestStreams.counting(1)); // waits for the only slot
      StreamHandle unowned = m.submit(TestStreams.counting(1));
      String unknown = new StreamIds().next();

      Optional<StreamHandle> forUnknown = m.find("mallory", unknown);
      assertThat(forUnknown).isEmpty();
      // Running, queued, unowned, removed, unknown; then again once ended but retained.
      for (int round = 0; round < 2; round++) {
        // Near misses of the owner are other owners.
        for (String other : List.of("mallory", "Alice", "alice ", " alice", "alice\u0000", "ALICE", "alic\u0435" /* Cyrillic */)) {
          for (String id : List.of(running.id(), queued.id(), unowned.id(), removed, unknown)) {
            assertThat(m.find(other, id)).as("%s finding %s", other, id).isEqualTo(forUnknown);
          }
        }
        finish.countDown();
        assertThat(outcome(running).status()).isEqualTo(Status.COMPLETED);
        assertThat(outcome(queued).status()).isEqualTo(Status.COMPLETED);
      }
      // Without an owner, owned streams are not found either; malformed ids fail the same way for all.
      assertThat(m.find(running.id())).isEmpty();
      assertThat(malformedMessage(m, running.id())).isEqualTo(malformedMessage(m, unknown));
      // The owner still finds, reads and resumes it: nothing was disturbed by the probes.
      StreamHandle mine = m.find("alice", running.id()).orElseThrow();
      try (StreamReader r = mine.attach(0)) {
        List<StreamEvent> events = TestStreams.drain(r);
        assertThat(TestStreams.texts(events)).containsExactly("secret");
      }
      assertThat(m.counters().cancelled()).isZero();
      assertThat(m.counters().submitted()).isEqualTo(4);
    }
  }
}
