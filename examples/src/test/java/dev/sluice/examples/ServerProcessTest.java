package dev.sluice.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The real server program ({@code Main serve}) in its own JVM, against slowloris clients. Its own
 * JVM because the JDK server reads its timeouts once per JVM, when the first server is created: the
 * test must see what a user's process gets, whatever other tests did before.
 */
@Timeout(60)
class ServerProcessTest {

  static final String KEY = "process-test-key";
  static final Pattern LISTENING = Pattern.compile("Sluice chat server on http://127\\.0\\.0\\.1:(\\d+)/");

  Process server;
  int port;

  @BeforeEach
  void startServer() throws Exception {
    String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
    server =
        new ProcessBuilder(
                java, "-cp", System.getProperty("java.class.path"), "dev.sluice.examples.Main",
                "serve", "--host", "127.0.0.1", "--port", "0", "--keys", KEY)
            .redirectErrorStream(true)
            .start();
    BufferedReader out = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
    CompletableFuture<Integer> found = new CompletableFuture<>();
    Thread pump =
        new Thread(
            () -> {
              try {
                for (String line; (line = out.readLine()) != null; ) {
                  Matcher m = LISTENING.matcher(line);
                  if (m.find()) {
                    found.complete(Integer.parseInt(m.group(1)));
                  }
                }
              } catch (Exception e) {
                found.completeExceptionally(e);
              }
              found.completeExceptionally(new AssertionError("server exited without listening"));
            });
    pump.setDaemon(true);
    pump.start();
    port = found.get(30, TimeUnit.SECONDS);
  }

  @AfterEach
  void stopServer() throws InterruptedException {
    server.destroy(); // SIGTERM: the shutdown hook closes the manager
    if (!server.waitFor(10, TimeUnit.SECONDS)) {
      server.destroyForcibly();
    }
  }

  @Test
  void slowloris_unfinishedHeadersAndTricklingBodies_areClosedByTheRequestTimeout() throws Exception {
    List<Socket> loris = new ArrayList<>();
    try {
      for (int i = 0; i < 50; i++) {
        Socket s = RawHttp.connect(port);
        OutputStream o = s.getOutputStream();
        if (i % 2 == 0) {
          // A request line and one header, then nothing: the blank line never comes.
          o.write("GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n".getBytes(StandardCharsets.US_ASCII));
        } else {
          // Headers done, then a body that stops after 10 of its 1000 bytes.
          o.write(("POST /chat/submit HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + KEY
                  + "\r\nContent-Length: 1000\r\n\r\n{\"prompt\":").getBytes(StandardCharsets.US_ASCII));
        }
        o.flush();
        loris.add(s);
      }
      // While they hang, others are served.
      assertThat(RawHttp.get(port, "/stats", null).status()).isEqualTo(200);
      assertThat(RawHttp.post(port, "/chat/submit", KEY, "{\"prompt\":\"hi\"}").status()).isEqualTo(202);
      // The server closes each within its request timeout (10 s) and a timer tick (1 s).
      long start = System.nanoTime();
      for (Socket s : loris) {
        s.setSoTimeout(20_000);
        assertThat(RawHttp.closedByServer(s)).as("closed by the server").isTrue();
      }
      assertThat(System.nanoTime() - start).isLessThan(TimeUnit.SECONDS.toNanos(16));
    } finally {
      loris.forEach(RawHttp::reset);
    }
    assertThat(RawHttp.get(port, "/stats", null).status()).isEqualTo(200);
  }

  @Test
  void requestWithThousandsOfHeaders_isRefused_andTheServerKeepsServing() throws Exception {
    StringBuilder head = new StringBuilder("GET /stats HTTP/1.1\r\nHost: 127.0.0.1");
    for (int i = 0; i < 5_000; i++) {
      head.append("\r\nX-Junk-").append(i).append(": ").append("v".repeat(20));
    }
    int status;
    try {
      status = RawHttp.exchange(port, head.toString(), new byte[0]).status();
    } catch (java.io.IOException closed) {
      status = -1; // the server closed the connection on us: also a refusal
    }
    assertThat(status).isNotEqualTo(200);
    assertThat(RawHttp.get(port, "/stats", null).status()).isEqualTo(200);
  }
}
