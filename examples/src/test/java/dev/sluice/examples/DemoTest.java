package dev.sluice.examples;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The demo end to end, smaller than its default: every invariant holds and the report says so. */
@Timeout(60)
class DemoTest {

  @Test
  void demo_withFortyClients_passesEveryInvariant() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(bytes, true, UTF_8);

    int status = Main.run(new String[] {"demo", "--clients", "40", "--seed", "7"}, out, out);

    String report = bytes.toString(UTF_8);
    assertThat(status).as(report).isZero();
    assertThat(report)
        .contains("40 concurrent clients", "server A http://127.0.0.1:", "detach=keep-running")
        .contains("[ok] every client got exactly one final event")
        .contains("[ok] 0 streams left in the registry after retention")
        .contains("[ok] 0 live worker threads")
        .contains("Time to first token", "Cancel latency", "Result: PASS (exit 0)")
        .doesNotContain("[FAIL]");
  }
}
