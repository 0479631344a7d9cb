package dev.sluice.examples;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.DetachPolicy;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The command line: flags, defaults and usage errors. */
class MainTest {

  @Test
  void parseFlags_acceptsSpaceAndEqualsForms() {
    assertThat(Main.parseFlags(List.of("--port", "9000", "--source=openai")))
        .containsExactlyInAnyOrderEntriesOf(Map.of("port", "9000", "source", "openai"));
  }

  @Test
  void parseFlags_rejectsMissingValuesAndRepeats() {
    assertThatThrownBy(() -> Main.parseFlags(List.of("--port"))).hasMessage("--port needs a value");
    assertThatThrownBy(() -> Main.parseFlags(List.of("--port", "1", "--port", "2"))).hasMessage("--port given twice");
    assertThatThrownBy(() -> Main.parseFlags(List.of("port"))).hasMessageContaining("expected --option");
  }

  @Test
  void durations_acceptUnitsAndIso() {
    assertThat(Main.durationFlag(Map.of("d", "250ms"), "d", Duration.ZERO)).isEqualTo(Duration.ofMillis(250));
    assertThat(Main.durationFlag(Map.of("d", "3s"), "d", Duration.ZERO)).isEqualTo(Duration.ofSeconds(3));
    assertThat(Main.durationFlag(Map.of("d", "5m"), "d", Duration.ZERO)).isEqualTo(Duration.ofMinutes(5));
    assertThat(Main.durationFlag(Map.of("d", "PT1H"), "d", Duration.ZERO)).isEqualTo(Duration.ofHours(1));
    assertThat(Main.durationFlag(Map.of(), "d", Duration.ofSeconds(7))).isEqualTo(Duration.ofSeconds(7));
    assertThatThrownBy(() -> Main.durationFlag(Map.of("d", "soon"), "d", Duration.ZERO))
        .hasMessageContaining("--d must be a duration");
  }

  @Test
  void keys_fromFlagElseEnvElseTheLocalDefault() {
    assertThat(Main.keys("a, b,,", "env")).containsExactly("a", "b");
    assertThat(Main.keys(null, "env1,env2")).containsExactly("env1", "env2");
    assertThat(Main.keys(null, null)).containsExactly(Main.DEFAULT_KEY);
  }

  @Test
  void detachPolicy_namesOnTheCommandLine() {
    assertThat(Main.detachPolicy("cancel")).isEqualTo(DetachPolicy.CANCEL);
    assertThat(Main.detachPolicy("keep-running")).isEqualTo(DetachPolicy.KEEP_RUNNING);
    assertThatThrownBy(() -> Main.detachPolicy("sometimes")).hasMessageContaining("cancel or keep-running");
  }

  @Test
  void run_badUsage_exits2WithTheReason() throws Exception {
    assertThat(run("frobnicate")).startsWith("2|error: unknown command: frobnicate");
    assertThat(run("serve", "--colour", "blue")).startsWith("2|error: unknown option --colour");
    assertThat(run("demo", "--clients", "many")).startsWith("2|error: --clients must be an integer");
    assertThat(run("serve", "--source", "magic")).startsWith("2|error: --source must be fake or openai");
    assertThat(run()).startsWith("2|usage:");
    assertThat(run("--help")).startsWith("0|usage:");
  }

  private static String run(String... args) throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(bytes, true, UTF_8);
    int status = Main.run(args, out, out);
    return status + "|" + bytes.toString(UTF_8);
  }
}
