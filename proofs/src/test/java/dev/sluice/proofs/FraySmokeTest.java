package dev.sluice.proofs;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.FrayTest;

/** Shows that Fray instruments and runs this module: two threads, one counter. */
@ExtendWith(FrayTestExtension.class)
class FraySmokeTest {

  @FrayTest(iterations = 20)
  void twoThreads_incrementAtomically_seeTwo() throws InterruptedException {
    AtomicInteger n = new AtomicInteger();
    Thread t = new Thread(n::incrementAndGet);
    t.start();
    n.incrementAndGet();
    t.join();
    assertThat(n.get()).isEqualTo(2);
  }
}
