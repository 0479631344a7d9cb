package dev.sluice;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The README's embedding example: it compiles, runs, and the README shows exactly this code. */
@Timeout(10)
class ReadmeExampleTest {

  @Test
  void readmeExample_runs_andMatchesTheReadme() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrintStream original = System.out;
    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    try {
      example();
    } finally {
      System.setOut(original);
    }
    assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo("Hello from Sluice \nCOMPLETED\n");
    assertThat(normalize(readmeSnippet())).isEqualTo(normalize(thisSnippet()));
  }

  private static void example() throws InterruptedException {
    // readme:start
    try (StreamManager streams = StreamManager.builder()
        .maxRunning(64)                                  // upstream calls at once; more wait in a queue
        .firstTokenTimeout(Duration.ofSeconds(10))
        .build()) {

      StreamHandle handle = streams.submit(sink -> {     // runs on a worker (virtual thread on 21+)
        for (String word : "Hello from Sluice".split(" ")) {
          sink.send(word + " ");                         // waits while the reader lags; throws once cancelled
        }
      });                                                // handle.id() is what you give the client

      try (StreamReader reader = handle.attach()) {      // closing it early cancels the stream
        StreamEvent event;
        while ((event = reader.next()) instanceof StreamEvent.Token token) {
          System.out.print(token.text());
        }
        System.out.println("\n" + ((StreamEvent.Terminal) event).status()); // COMPLETED
      }
    }
    // readme:end
  }

  private static String thisSnippet() throws IOException {
    String src =
        Files.readString(Path.of("src/test/java/dev/sluice/ReadmeExampleTest.java"));
    return between(src, "// readme:start\n", "    // readme:end");
  }

  private static String readmeSnippet() throws IOException {
    String readme = Files.readString(Path.of("../README.md"));
    return between(readme, "<!-- embed:start -->\n```java\n", "```\n<!-- embed:end -->");
  }

  private static String between(String s, String start, String end) {
    int i = s.indexOf(start);
    int j = s.indexOf(end, i + 1);
    assertThat(i).as("marker %s", start).isNotNegative();
    assertThat(j).as("marker %s", end).isGreaterThan(i);
    return s.substring(i + start.length(), j);
  }

  /** Compares code ignoring indentation and trailing spaces. */
  private static String normalize(String code) {
    StringBuilder b = new StringBuilder();
    for (String line : code.split("\n")) {
      if (!line.isBlank()) {
        b.append(line.strip()).append('\n');
      }
    }
    return b.toString();
  }
}
