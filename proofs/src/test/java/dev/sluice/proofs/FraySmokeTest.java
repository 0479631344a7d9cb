package dev.sluice.proofs;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.FrayTest;

/** Shows that Fray instruments and runs this module, through its annotation and through {@link Explore}. */
@ExtendWith(FrayTestExtension.class)
class FraySmokeTest {

  @FrayTest(iterations = 20)
  void twoThreads_incrementAtomically_seeTwo() throws InterruptedException {
    twoIncrements();
  }

  @Test
  void explore_runsTheScenarioUnderFray() {
    Explore.explore("smoke", 20, FraySmokeTest::twoIncrements);
  }

  @Test
  void explore_findsALostUpdate() {
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> Explore.explore("lost update", 200, FraySmokeTest::lostUpdate))
        .isInstanceOf(Throwable.class);
  }

  private static void twoIncrements() {
    AtomicInteger n = new AtomicInteger();
    Thread t = new Thread(n::incrementAndGet);
    t.start();
    n.incrementAndGet();
    join(t);
    assertThat(n.get()).isEqualTo(2);
  }

  private static void lostUpdate() {
    AtomicInteger n = new AtomicInteger();
    Thread t = new Thread(() -> n.set(n.get() + 1));
    t.start();
    n.set(n.get() + 1);
    join(t);
    assertThat(n.get()).isEqualTo(2);
  }

  static void join(Thread t) {
    try {
      t.join();
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }
}
