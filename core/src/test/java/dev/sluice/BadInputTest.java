package dev.sluice;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every setting and public method with null, blank, negative, zero, huge and unknown values: a clear
 * exception naming the parameter and the value, and a manager that keeps working.
 */
@Timeout(10)
class BadInputTest {

  private final StreamManager manager = StreamManager.builder().build();

  @AfterEach
  void close() {
    manager.close();
  }

  static Stream<Arguments> badSettings() {
    Duration huge = Duration.ofDays(365L * 1000);
    return Stream.of(
        bad("maxRunning", b -> b.maxRunning(0), IllegalArgumentException.class, "maxRunning must be > 0, got 0"),
        bad("maxRunning", b -> b.maxRunning(-5), IllegalArgumentException.class, "maxRunning must be > 0, got -5"),
        bad("queueCapacity", b -> b.queueCapacity(-1), IllegalArgumentException.class, "queueCapacity must be >= 0, got -1"),
        bad("bufferSize", b -> b.bufferSize(0), IllegalArgumentException.class, "bufferSize must be > 0, got 0"),
        bad("bufferSize", b -> b.bufferSize(Integer.MAX_VALUE), IllegalArgumentException.class, "bufferSize must be <= 16777216, got 2147483647"),
        bad("replayWindow", b -> b.replayWindow(-1), IllegalArgumentException.class, "replayWindow must be in [0, 16777216], got -1"),
        bad("submitTimeout", b -> b.submitTimeout(Duration.ofSeconds(-1)), IllegalArgumentException.class, "submitTimeout must be >= 0, got PT-1S"),
        bad("submitTimeout", b -> b.submitTimeout(null), NullPointerException.class, "submitTimeout"),
        bad("deadline", b -> b.deadline(Duration.ZERO), IllegalArgumentException.class, "deadline must be > 0, got PT0S"),
        bad("deadline", b -> b.deadline(huge), IllegalArgumentException.class, "deadline must fit in a long of nanoseconds (about 292 years), got PT8760000H"),
        bad("firstTokenTimeout", b -> b.firstTokenTimeout(Duration.ofMillis(-1)), IllegalArgumentException.class, "firstTokenTimeout must be > 0, got PT-0.001S"),
        bad("idleTimeout", b -> b.idleTimeout(Duration.ZERO), IllegalArgumentException.class, "idleTimeout must be > 0, got PT0S"),
        bad("noReaderTimeout", b -> b.noReaderTimeout(null), NullPointerException.class, "noReaderTimeout"),
        bad("retention", b -> b.retention(Duration.ZERO), IllegalArgumentException.class, "retention must be > 0, got PT0S"),
        bad("stopTimeout", b -> b.stopTimeout(Duration.ofNanos(-1)), IllegalArgumentException.class, "stopTimeout must be > 0, got PT-0.000000001S"),
        bad("detachPolicy", b -> b.detachPolicy(null), NullPointerException.class, "detachPolicy"),
        bad("executor", b -> b.executor(null), NullPointerException.class, "executor"),
        bad("scheduler", b -> b.scheduler(null), NullPointerException.class, "scheduler"),
        bad("ticker", b -> b.ticker(null), NullPointerException.class, "ticker"),
        bad("listener", b -> b.listener(null), NullPointerException.class, "listener"));
  }

  private static Arguments bad(
      String setting, Consumer<StreamManager.Builder> call, Class<?> type, String message) {
    return Arguments.of(setting, call, type, message);
  }

  @ParameterizedTest(name = "{0}: {3}")
  @MethodSource("badSettings")
  void builderSetting_rejectsBadValue_namingSettingAndValue(
      String setting, Consumer<StreamManager.Builder> call, Class<?> type, String message) {
    StreamManager.Builder b = StreamManager.builder();
    assertThatThrownBy(() -> call.accept(b)).isInstanceOf(type).hasMessage(message);
    try (StreamManager stillFine = b.build()) { // the builder is untouched by a rejected value
      assertThat(stillFine.counters().submitted()).isZero();
    }
  }

  static Stream<Arguments> badIds() {
    return Stream.of(
        Arguments.of(null, NullPointerException.class, "id"),
        Arguments.of("", IllegalArgumentException.class, "id must be 22 URL-safe base64 characters, got \"\""),
        Arguments.of("   ", IllegalArgumentException.class, "id must be 22 URL-safe base64 characters, got \"   \""),
        Arguments.of("../../etc/passwd", IllegalArgumentException.class, "id must be 22 URL-safe base64 characters, got \"../../etc/passwd\""),
        Arguments.of("AAAAAAAAAAAAAAAAAAAA/A", IllegalArgumentException.class, "id must be 22 URL-safe base64 characters, got \"AAAAAAAAAAAAAAAAAAAA/A\""),
        Arguments.of("AAAAAAAAAAAAAAAAAAAAAB", IllegalArgumentException.class, "id is not a stream id: \"AAAAAAAAAAAAAAAAAAAAAB\""),
        Arguments.of("x".repeat(10_000), IllegalArgumentException.class, "id must be 22 URL-safe base64 characters, got \"" + "x".repeat(40) + "...(10000 chars)\""));
  }

  @ParameterizedTest(name = "find({0})")
  @MethodSource("badIds")
  void find_rejectsMalformedIds_namingTheValue(String id, Class<?> type, String message) {
    StreamHandle live = manager.submit(TestStreams.counting(1));
    assertThatThrownBy(() -> manager.find(id)).isInstanceOf(type).hasMessage(message);
    assertThatThrownBy(() -> manager.find("owner", id)).isInstanceOf(type).hasMessage(message);
    assertThat(manager.find(live.id())).contains(live); // intact
  }

  @Test
  void find_unknownButWellFormedId_isEmpty() {
    assertThat(manager.find(new StreamIds().next())).isEmpty();
    assertThat(manager.find("AAAAAAAAAAAAAAAAAAAAAA")).isEmpty();
  }

  @Test
  void submit_nullSource_isRejectedByName_andNothingIsRegistered() {
    assertThatThrownBy(() -> manager.submit((TokenSource) null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("source");
    assertThatThrownBy(() -> manager.submit("alice", null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("source");
    assertThat(manager.counters().submitted()).isZero();
    assertThat(((DefaultStreamManager) manager).registrySize()).isZero();
  }

  @Test
  void reader_nullTimeout_isRejectedByName() throws Exception {
    StreamHandle h = manager.submit(TestStreams.counting(1));
    try (StreamReader r = h.attach()) {
      assertThatThrownBy(() -> r.poll(null))
          .isInstanceOf(NullPointerException.class)
          .hasMessage("timeout");
      assertThat(r.poll(Duration.ofDays(365L * 1000))).isNotNull(); // huge: waits, no overflow
    }
  }

  @Test
  void oversizedTokens_arePassedThroughUnchanged() throws Exception {
    // Sluice does not cap token size: a token is a reference in the ring, never copied.
    // Limits on what reaches a client belong to the transport (see the examples' server).
    String big = "x".repeat(1 << 20);
    StreamHandle h = manager.submit(sink -> sink.send(big));
    try (StreamReader r = h.attach()) {
      assertThat(((StreamEvent.Token) r.next()).text()).isSameAs(big);
    }
  }

  @Test
  void outcomeAndEvents_validateTheirComponents() {
    assertThatThrownBy(() -> new StreamOutcome(StreamOutcome.Status.COMPLETED, -1, null, null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("tokens must be >= 0, got -1");
    assertThatThrownBy(() -> new StreamEvent.Token(1, null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("text");
    assertThatThrownBy(() -> new StreamEvent.Terminal(1, null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("outcome");
  }
}
