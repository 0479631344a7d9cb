package dev.sluice.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.DetachPolicy;
import dev.sluice.StreamManager;
import java.io.File;
import java.io.IOException;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.openqa.selenium.By;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The chat page end to end in headless Chromium: type a prompt, see tokens stream, press Stop, see
 * "cancelled". Needs Debian's {@code chromium} and {@code chromium-driver}; tagged {@code browser}, so
 * it runs with {@code mvn -Pbrowser ...} and is skipped with a message when they are missing.
 */
@Tag("browser")
@Timeout(90)
class BrowserChatTest {

  static final String CHROMIUM = System.getProperty("chromium.binary", "/usr/bin/chromium");
  static final String CHROMEDRIVER = System.getProperty("chromedriver.binary", "/usr/bin/chromedriver");
  static final String KEY = "browser-key";

  /** Without selenium-devtools on the class path Selenium warns once per session; CDP is not used. */
  static final java.util.logging.Logger CDP_LOG = java.util.logging.Logger.getLogger("org.openqa.selenium.devtools");

  static {
    CDP_LOG.setLevel(java.util.logging.Level.SEVERE);
  }

  ChatServer server;
  WebDriver driver;
  Path profile;

  @BeforeEach
  void start() throws Exception {
    assumeTrue(
        new File(CHROMIUM).canExecute() && new File(CHROMEDRIVER).canExecute(),
        "no headless Chromium here, browser test skipped: need executables " + CHROMIUM + " and " + CHROMEDRIVER
            + " (apt-get install -y chromium chromium-driver)");
    // 30 tokens/s for 600 tokens: still streaming when Stop is pressed.
    FakeLlm llm = new FakeLlm(30, Duration.ofMillis(100), 600);
    StreamManager manager =
        StreamManager.builder().removeOnDelivery(false).replayWindow(1024).retention(Duration.ofSeconds(30)).build();
    server = ChatServer.start(manager, llm::source, ChatServer.Options.loopback(0, Set.of(KEY), DetachPolicy.CANCEL));

    profile = Files.createTempDirectory("sluice-chromium-");
    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM);
    options.addArguments(
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--user-data-dir=" + profile);
    ChromeDriverService service =
        new ChromeDriverService.Builder().usingDriverExecutable(new File(CHROMEDRIVER)).usingAnyFreePort().build();
    driver = new ChromeDriver(service, options);
    driver.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(20));
  }

  @AfterEach
  void stop() throws IOException {
    if (driver != null) {
      driver.quit();
    }
    if (server != null) {
      server.close();
    }
    if (profile != null) {
      try (Stream<Path> files = Files.walk(profile)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  @Test
  void page_streamsTokens_thenStopShowsCancelled() throws Exception {
    driver.get(server.uri() + "/?key=" + KEY);
    WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(20));

    driver.findElement(By.id("prompt")).sendKeys("What does Sluice guarantee?");
    driver.findElement(By.id("send")).click();

    // Tokens stream in: the answer grows while the status says so.
    wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("answer"), "What does Sluice"));
    int early = driver.findElement(By.id("answer")).getText().length();
    wait.until(d -> d.findElement(By.id("answer")).getText().length() > early + 20);
    assertThat(driver.findElement(By.id("status")).getText()).isEqualTo("streaming");
    assertThat(driver.findElement(By.id("meta")).getText()).startsWith("first token after");

    driver.findElement(By.id("stop")).click();

    wait.until(ExpectedConditions.textToBe(By.id("status"), "cancelled"));
    assertThat(driver.findElement(By.id("stop")).isEnabled()).isFalse();
    String answer = driver.findElement(By.id("answer")).getText();
    Thread.sleep(300); // no token arrives after the final event
    assertThat(driver.findElement(By.id("answer")).getText()).isEqualTo(answer);

    ChatClient.Reply stats = new ChatClient(HttpClient.newHttpClient(), server.uri(), KEY).stats();
    assertThat(stats.body().path("cancelled").asLong()).isEqualTo(1);
    assertThat(stats.body().path("completed").asLong()).isZero();
  }
}
