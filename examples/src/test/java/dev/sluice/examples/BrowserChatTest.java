package dev.sluice.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.DetachPolicy;
import dev.sluice.StreamManager;
import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
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
  CuttableProxy proxy;
  ChromeDriverService service;
  Thread killDriver;
  WebDriver driver;
  Path profile;

  @BeforeEach
  void start() throws Exception {
    assumeTrue(
        new File(CHROMIUM).canExecute() && new File(CHROMEDRIVER).canExecute(),
        "no headless Chromium here, browser test skipped: need executables " + CHROMIUM + " and " + CHROMEDRIVER
            + " (apt-get install -y chromium chromium-driver)");
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
    service = new ChromeDriverService.Builder().usingDriverExecutable(new File(CHROMEDRIVER)).usingAnyFreePort().build();
    ChromeDriverService started = service;
    killDriver = new Thread(started::stop, "stop-chromedriver"); // if the test JVM is killed mid-test
    Runtime.getRuntime().addShutdownHook(killDriver);
    driver = new ChromeDriver(service, options);
    driver.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(20));
  }

  void startServer(FakeLlm llm, DetachPolicy policy) throws IOException {
    StreamManager manager =
        StreamManager.builder()
            .removeOnDelivery(false)
            .replayWindow(1024)
            .retention(Duration.ofSeconds(30))
            .detachPolicy(policy)
            .build();
    server = ChatServer.start(manager, llm::source, ChatServer.Options.loopback(0, Set.of(KEY), policy));
  }

  @AfterEach
  void stop() throws IOException {
    try {
      if (driver != null) {
        driver.quit();
      }
    } finally {
      // Even if quit() fails or times out, no chromedriver or Chromium outlives the test.
      if (service != null) {
        service.stop();
        Runtime.getRuntime().removeShutdownHook(killDriver);
      }
      if (proxy != null) {
        proxy.close();
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
  }

  @Test
  void page_streamsTokens_thenStopShowsCancelled() throws Exception {
    startServer(new FakeLlm(30, Duration.ofMillis(100), 600), DetachPolicy.CANCEL); // still streaming at Stop
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

  @Test
  void page_resumesWithLastEventId_afterTheConnectionDrops() throws Exception {
    FakeLlm llm = new FakeLlm(25, Duration.ofMillis(100), 75); // 3 s of tokens
    startServer(llm, DetachPolicy.KEEP_RUNNING);
    proxy = new CuttableProxy(server.port());
    driver.get("http://127.0.0.1:" + proxy.port() + "/?key=" + KEY);
    WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(20));
    String prompt = "Resume me";

    driver.findElement(By.id("prompt")).sendKeys(prompt);
    driver.findElement(By.id("send")).click();
    wait.until(d -> d.findElement(By.id("answer")).getText().length() > 40);

    proxy.cutAll(); // the network drops every connection; EventSource reconnects with Last-Event-ID

    wait.until(ExpectedConditions.textToBe(By.id("status"), "completed"));
    assertThat(proxy.connectionsCut()).isPositive();
    // Every token exactly once, in order: nothing lost at the cut, nothing replayed twice.
    assertThat(driver.findElement(By.id("answer")).getText()).isEqualTo(String.join("", llm.answer(prompt)).strip());
    ChatClient.Reply stats = new ChatClient(HttpClient.newHttpClient(), server.uri(), KEY).stats();
    assertThat(stats.body().path("completed").asLong()).isEqualTo(1);
    assertThat(stats.body().path("cancelled").asLong()).isZero();
  }

  /** A loopback TCP proxy whose connections can all be dropped at once, like a network blip. */
  static final class CuttableProxy implements AutoCloseable {
    private final ServerSocket listener;
    private final int target;
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private final AtomicInteger cut = new AtomicInteger();
    private final Thread acceptor;

    CuttableProxy(int target) throws IOException {
      this.target = target;
      this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
      this.acceptor = new Thread(this::acceptLoop, "proxy-accept");
      acceptor.setDaemon(true);
      acceptor.start();
    }

    int port() {
      return listener.getLocalPort();
    }

    int connectionsCut() {
      return cut.get();
    }

    void cutAll() {
      for (Socket s : sockets) {
        closeQuietly(s);
        cut.incrementAndGet();
      }
    }

    private void acceptLoop() {
      while (!listener.isClosed()) {
        try {
          Socket client = listener.accept();
          Socket upstream = new Socket(InetAddress.getLoopbackAddress(), target);
          sockets.add(client);
          sockets.add(upstream);
          pipe(client, upstream);
          pipe(upstream, client);
        } catch (IOException e) {
          return; // closed
        }
      }
    }

    private void pipe(Socket from, Socket to) {
      Thread t =
          new Thread(
              () -> {
                try {
                  from.getInputStream().transferTo(to.getOutputStream());
                } catch (IOException ignored) {
                  // cut or closed
                } finally {
                  closeQuietly(from);
                  closeQuietly(to);
                  sockets.remove(from);
                  sockets.remove(to);
                }
              },
              "proxy-pipe");
      t.setDaemon(true);
      t.start();
    }

    private static void closeQuietly(Socket s) {
      try {
        s.close();
      } catch (IOException ignored) {
        // already closed
      }
    }

    @Override
    public void close() throws IOException {
      listener.close();
      sockets.forEach(CuttableProxy::closeQuietly);
    }
  }
}
