package dev.sluice.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The README shows code that this module compiles and runs, verbatim. */
class ReadmeExampleTest {

  private static final Path SOURCES = Path.of("src/test/java/dev/sluice/testkit");

  private static String readme() throws IOException {
    return Files.readString(Path.of("README.md"));
  }

  /** The text between {@code // <marker>-start} and {@code // <marker>-end}, without them. */
  private static String between(Path file, String marker) throws IOException {
    String text = Files.readString(file);
    int start = text.indexOf("// " + marker + "-start\n");
    int end = text.indexOf("// " + marker + "-end", start);
    assertThat(start).as("%s-start in %s", marker, file).isNotNegative();
    assertThat(end).as("%s-end in %s", marker, file).isGreaterThan(start);
    String snippet = text.substring(text.indexOf('\n', start) + 1, end);
    return snippet.substring(0, snippet.lastIndexOf('\n') + 1); // drop the end marker's indent
  }

  @Test
  void readme_usageExample_isTheCompiledConformanceTest() throws IOException {
    String example = between(SOURCES.resolve("FakeProviderSourceConformanceTest.java"), "readme-example");
    assertThat(example.lines().count()).isEqualTo(10);
    assertThat(readme()).contains("```java\n" + example + "```\n");
  }

  @Test
  void readme_adapterShape_isTheCompiledAdapter() throws IOException {
    String adapter = between(SOURCES.resolve("FakeProviderSource.java"), "readme-adapter");
    assertThat(readme()).contains("```java\n" + adapter + "```\n");
  }
}
