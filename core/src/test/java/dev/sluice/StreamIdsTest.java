package dev.sluice;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Base64;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Stream ids are 128 random bits, URL-safe, and accepted back by the validator. */
class StreamIdsTest {

  @Test
  void ids_are22UrlSafeCharsOf16RandomBytes_uniqueAndWellFormed() {
    StreamIds ids = new StreamIds();
    Set<String> seen = new HashSet<>();
    int[] bitCounts = new int[128];
    int n = 20_000;
    for (int i = 0; i < n; i++) {
      String id = ids.next();
      assertThat(id).hasSize(22).matches("[A-Za-z0-9_-]{22}");
      assertThat(StreamIds.requireWellFormed(id)).isSameAs(id);
      assertThat(seen.add(id)).as("duplicate id %s", id).isTrue();
      byte[] raw = Base64.getUrlDecoder().decode(id);
      assertThat(raw).hasSize(16);
      for (int bit = 0; bit < 128; bit++) {
        if ((raw[bit / 8] >> (bit % 8) & 1) != 0) {
          bitCounts[bit]++;
        }
      }
    }
    // Every bit is set about half the time: no counter, no constant prefix (5.6 sigma bounds).
    for (int bit = 0; bit < 128; bit++) {
      assertThat(bitCounts[bit]).as("bit %d", bit).isBetween(n / 2 - 400, n / 2 + 400);
    }
  }
}
