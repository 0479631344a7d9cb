package dev.sluice.examples;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.sluice.StreamEvent;
import dev.sluice.StreamHandle;
import dev.sluice.StreamManager;
import dev.sluice.StreamOutcome;
import dev.sluice.StreamReader;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The OpenAI-compatible source against a fake upstream on loopback that streams chunks slowly. */
@Timeout(20)
class OpenAiTokenSourceTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** What the fake upstream answers; set by each test before it submits. */
  @FunctionalInterface
  interface Upstream {
    void answer(HttpExchange ex) throws IOException, InterruptedException;
  }

  HttpServer upstream;
  ExecutorService upstreamThreads;
  volatile Upstream behaviour = ex -> {};
  volatile @Nullable JsonNode lastRequest;
  volatile @Nullable String lastAuthorization;
  final CountDownLatch upstreamSawClose = new CountDownLatch(1);
  StreamManager manager;
  OpenAiTokenSource openai;

  @BeforeEach
  void start() throws IOException {
    upstreamThreads = Executors.newCachedThreadPool();
    upstream = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
    upstream.setExecutor(upstreamThreads);
    upstream.createContext(
        "/v1/chat/completions",
        ex -> {
          try {
            lastRequest = JSON.readTree(ex.getRequestBody().readAllBytes());
            lastAuthorization = ex.getRequestHeaders().getFirst("Authorization");
            behaviour.answer(ex);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          } finally {
            ex.close();
          }
        });
    upstream.start();
    manager = StreamManager.builder().stopTimeout(Duration.ofSeconds(2)).build();
    openai =
        new OpenAiTokenSource(
            ChatClient.newHttpClient(),
            URI.create("http://127.0.0.1:" + upstream.getAddress().getPort() + "/v1/"),
            "test-model",
            "sk-test",
            Duration.ofSeconds(5));
  }

  @AfterEach
  void stop() {
    manager.close();
    upstream.stop(0);
    upstreamThreads.shutdownNow();
  }

  static String chunk(String content) {
    return "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
        + JSON.valueToTree(content)
        + "}}]}\n\n";
  }

  static void streamHeaders(HttpExchange ex) throws IOException {
    ex.getResponseHeaders().set("Content-Type", "text/event-stream");
    ex.sendResponseHeaders(200, 0);
  }

  static void write(OutputStream out, String text) throws IOException {
    out.write(text.getBytes(UTF_8));
    out.flush();
  }

  /** Runs a prompt to its end; returns the tokens and the outcome. */
  List<String> run(String prompt, StreamOutcome[] outcome) throws Exception {
    StreamHandle h = manager.submit(openai.source(prompt));
    List<String> tokens = new ArrayList<>();
    try (StreamReader r = h.attach()) {
      for (StreamEvent e = r.next(); ; e = r.next()) {
        if (e instanceof StreamEvent.Token) {
          tokens.add(((StreamEvent.Token) e).text());
        } else {
          outcome[0] = ((StreamEvent.Terminal) e).outcome();
          return tokens;
        }
      }
    }
  }

  @Test
  void source_streamsDeltaContent_thenCompletedAtDone() throws Exception {
    behaviour =
        ex -> {
          streamHeaders(ex);
          try (OutputStream out = ex.getResponseBody()) {
            write(out, ": keep-alive comment\n\n");
            write(out, "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n");
            write(out, chunk("Hello"));
            write(out, chunk(","));
            write(out, chunk(" world — ünïcödé"));
            write(out, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
            write(out, "data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\n");
            write(out, "data: [DONE]\n\n");
          }
        };
    StreamOutcome[] outcome = new StreamOutcome[1];

    List<String> tokens = run("Say hello", outcome);

    assertThat(tokens).containsExactly("Hello", ",", " world — ünïcödé");
    assertThat(outcome[0].status()).isEqualTo(StreamOutcome.Status.COMPLETED);
    assertThat(lastRequest.path("model").asText()).isEqualTo("test-model");
    assertThat(lastRequest.path("stream").asBoolean()).isTrue();
    assertThat(lastRequest.path("messages").get(0).path("role").asText()).isEqualTo("user");
    assertThat(lastRequest.path("messages").get(0).path("content").asText()).isEqualTo("Say hello");
    assertThat(lastAuthorization).isEqualTo("Bearer sk-test");
  }

  @Test
  void cancelMidStream_closesTheUpstreamConnectionPromptly() throws Exception {
    behaviour =
        ex -> {
          streamHeaders(ex);
          OutputStream out = ex.getResponseBody();
          try {
            for (int i = 0; i < 400; i++) { // bounded: 20 s at most
              write(out, chunk("t" + i));
              Thread.sleep(50);
            }
            write(out, "data: [DONE]\n\n");
          } catch (IOException closedByClient) {
            upstreamSawClose.countDown();
          }
        };
    StreamHandle h = manager.submit(openai.source("count"));
    try (StreamReader r = h.attach()) {
      for (int i = 0; i < 3; i++) {
        assertThat(r.next()).isInstanceOf(StreamEvent.Token.class);
      }
      long cancelled = System.nanoTime();
      assertThat(h.cancel()).isTrue();

      // The upstream sees the connection closed on its next write or two: within a few intervals.
      assertThat(upstreamSawClose.await(5, TimeUnit.SECONDS)).as("upstream saw the connection closed").isTrue();
      assertThat(Duration.ofNanos(System.nanoTime() - cancelled)).isLessThan(Duration.ofSeconds(5));
    }
    assertThat(h.outcome().toCompletableFuture().get(5, TimeUnit.SECONDS).status())
        .isEqualTo(StreamOutcome.Status.CANCELLED);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (manager.counters().running() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(manager.counters().running()).as("worker released").isZero();
    assertThat(manager.counters().ignoredCancellation()).isZero();
  }

  @Test
  void requestTimeout_boundsTheWaitForHeadersNotTheAnswer() throws Exception {
    openai =
        new OpenAiTokenSource(
            ChatClient.newHttpClient(), openai.completionsUri().resolve("/v1"), "m", null, Duration.ofMillis(500));
    behaviour =
        ex -> {
          streamHeaders(ex);
          try (OutputStream out = ex.getResponseBody()) {
            for (int i = 0; i < 30; i++) { // 1.5 s of answer, three times the timeout
              write(out, chunk("t" + i));
              Thread.sleep(50);
            }
            write(out, "data: [DONE]\n\n");
          }
        };
    StreamOutcome[] outcome = new StreamOutcome[1];

    List<String> tokens = run("long answer", outcome);

    assertThat(outcome[0].status()).as("%s", outcome[0]).isEqualTo(StreamOutcome.Status.COMPLETED);
    assertThat(tokens).hasSize(30);
  }

  @Test
  void cancelBeforeHeaders_abortsTheRequest() throws Exception {
    CountDownLatch requested = new CountDownLatch(1);
    behaviour =
        ex -> {
          requested.countDown();
          Thread.sleep(3_000); // a slow first byte
        };
    StreamHandle h = manager.submit(openai.source("slow"));
    assertThat(requested.await(5, TimeUnit.SECONDS)).isTrue();

    assertThat(h.cancel()).isTrue();

    assertThat(h.outcome().toCompletableFuture().get(5, TimeUnit.SECONDS).status())
        .isEqualTo(StreamOutcome.Status.CANCELLED);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
    while (manager.counters().running() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(manager.counters().running()).as("worker released before the upstream answered").isZero();
  }

  @Test
  void malformedChunk_fails() throws Exception {
    behaviour =
        ex -> {
          streamHeaders(ex);
          try (OutputStream out = ex.getResponseBody()) {
            write(out, chunk("ok"));
            write(out, "data: {\"choices\": [ oops\n\n");
            write(out, chunk("never read"));
            write(out, "data: [DONE]\n\n");
          }
        };
    StreamOutcome[] outcome = new StreamOutcome[1];

    List<String> tokens = run("x", outcome);

    assertThat(tokens).containsExactly("ok");
    assertThat(outcome[0].status()).isEqualTo(StreamOutcome.Status.FAILED);
    assertThat(outcome[0].message()).contains("malformed chunk 2");
  }

  @Test
  void streamEndingWithoutDone_failsNeverCompletes() throws Exception {
    behaviour =
        ex -> {
          streamHeaders(ex);
          try (OutputStream out = ex.getResponseBody()) {
            write(out, chunk("half"));
            write(out, chunk(" an answer"));
          }
        };
    StreamOutcome[] outcome = new StreamOutcome[1];

    List<String> tokens = run("x", outcome);

    assertThat(tokens).containsExactly("half", " an answer");
    assertThat(outcome[0].status()).isEqualTo(StreamOutcome.Status.FAILED);
    assertThat(outcome[0].message()).contains("without data: [DONE]");
  }

  @Test
  void httpError_failsWithStatusAndBody() throws Exception {
    behaviour =
        ex -> {
          byte[] body = "{\"error\":{\"message\":\"Incorrect API key provided\"}}".getBytes(UTF_8);
          ex.sendResponseHeaders(401, body.length);
          try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
          }
        };
    StreamOutcome[] outcome = new StreamOutcome[1];

    run("x", outcome);

    assertThat(outcome[0].status()).isEqualTo(StreamOutcome.Status.FAILED);
    assertThat(outcome[0].message()).contains("HTTP 401", "Incorrect API key provided");
  }

  @Test
  void errorObjectMidStream_fails() throws Exception {
    behaviour =
        ex -> {
          streamHeaders(ex);
          try (OutputStream out = ex.getResponseBody()) {
            write(out, chunk("a"));
            write(out, "data: {\"error\":{\"message\":\"model overloaded\"}}\n\n");
          }
        };
    StreamOutcome[] outcome = new StreamOutcome[1];

    run("x", outcome);

    assertThat(outcome[0].status()).isEqualTo(StreamOutcome.Status.FAILED);
    assertThat(outcome[0].message()).contains("model overloaded");
  }

  @Test
  void unreachableUpstream_fails() throws Exception {
    int port = upstream.getAddress().getPort();
    upstream.stop(0);
    openai =
        new OpenAiTokenSource(
            ChatClient.newHttpClient(), URI.create("http://127.0.0.1:" + port + "/v1"), "m", null, Duration.ofSeconds(5));
    StreamOutcome[] outcome = new StreamOutcome[1];

    run("x", outcome);

    assertThat(outcome[0].status()).isEqualTo(StreamOutcome.Status.FAILED);
    assertThat(outcome[0].message()).contains("/v1/chat/completions");
  }

  @Test
  void completionsUri_joinsBaseUrlWithOrWithoutSlash() {
    assertThat(openai.completionsUri().getPath()).isEqualTo("/v1/chat/completions");
    assertThat(
            new OpenAiTokenSource(
                    ChatClient.newHttpClient(), URI.create("http://localhost:11434/v1"), "m", null, Duration.ofSeconds(1))
                .completionsUri())
        .hasToString("http://localhost:11434/v1/chat/completions");
  }
}
