package dev.sluice.examples;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.DetachPolicy;
import dev.sluice.StreamManager;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The example server against hostile clients, over raw sockets on loopback: wrong API keys of every
 * length, oversized and lying bodies, malformed and foreign ids, a flood of submits beyond the
 * queue. Slowloris connections are in {@link ServerProcessTest}, against the real program.
 */
@Timeout(60)
class ChatServerSecurityTest {

  static final String KEY = "test-key-0123456789";
  static final String OTHER_KEY = "other-key";
  static final ObjectMapper JSON = new ObjectMapper();

  final List<ChatServer> servers = new ArrayList<>();

  @AfterEach
  void stop() {
    servers.forEach(ChatServer::close);
  }

  ChatServer start(FakeLlm llm, StreamManager.Builder builder) throws Exception {
    StreamManager manager =
        builder
            .retention(Duration.ofSeconds(1))
            .removeOnDelivery(false)
            .noReaderTimeout(Duration.ofSeconds(10))
            .stopTimeout(Duration.ofSeconds(2))
            .build();
    ChatServer server =
        ChatServer.start(
            manager,
            llm::source,
            ChatServer.Options.loopback(0, Set.of(KEY, OTHER_KEY), DetachPolicy.CANCEL)
                .withIntervals(Duration.ofMillis(100), Duration.ofMillis(200)));
    servers.add(server);
    return server;
  }

  ChatServer start() throws Exception {
    return start(new FakeLlm(100, Duration.ofMillis(20), 20), StreamManager.builder());
  }

  static String submit(int port, String key) throws Exception {
    RawHttp.Response r = RawHttp.post(port, "/chat/submit", key, "{\"prompt\":\"hi\"}");
    assertThat(r.status()).as(r.body()).isEqualTo(202);
    return JSON.readTree(r.body()).path("request_id").asText();
  }

  // ------------------------------------------------------------------ API keys

  @Test
  void wrongKeysOfEveryLength_get401_withTheSameAnswer() throws Exception {
    int port = start().port();
    Set<String> wrong = new LinkedHashSet<>();
    for (int len = 0; len <= KEY.length() + 8; len++) {
      // Every prefix of the key (a timing oracle would reveal these one character at a time)...
      if (len <= KEY.length()) {
        wrong.add(KEY.substring(0, len));
      }
      // ...the right length but the last character wrong, and the key with a tail.
      if (len > 0 && len <= KEY.length()) {
        wrong.add(KEY.substring(0, len - 1) + (KEY.charAt(len - 1) == 'x' ? 'y' : 'x') + KEY.substring(len));
      }
      if (len > KEY.length()) {
        wrong.add(KEY + "0".repeat(len - KEY.length()));
      }
    }
    wrong.add(KEY.toUpperCase(java.util.Locale.ROOT));
    wrong.add(KEY + OTHER_KEY);
    wrong.add("x".repeat(8_000));
    wrong.remove(KEY);
    Set<String> answers = new LinkedHashSet<>();
    for (String key : wrong) {
      RawHttp.Response r = RawHttp.post(port, "/chat/submit", key, "{\"prompt\":\"hi\"}");
      assertThat(r.status()).as("key \"%s\"", key).isEqualTo(401);
      answers.add(r.body());
      assertThat(RawHttp.post(port, "/chat/cancel/AAAAAAAAAAAAAAAAAAAAAA", key, "").status()).isEqualTo(401);
      assertThat(RawHttp.get(port, "/chat/stream/AAAAAAAAAAAAAAAAAAAAAA", key).status()).isEqualTo(401);
    }
    // The same answer whatever the key: nothing tells how close a guess was.
    assertThat(answers).containsExactly("{\"error\":\"unknown API key\"}");
    assertThat(RawHttp.post(port, "/chat/submit", null, "{\"prompt\":\"hi\"}").status()).isEqualTo(401);
    submit(port, KEY); // the right key still works
    assertThat(servers.get(0).manager().counters().submitted()).isEqualTo(1);
  }

  // ------------------------------------------------------------------ body limit

  @Test
  void bodyAtTheLimitIsAccepted_oneByteMoreIs413_andALyingContentLengthIsCutShort() throws Exception {
    ChatServer server = start();
    int port = server.port();
    String head = "POST /chat/submit HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + KEY;
    String json = "{\"prompt\":\"hi\"}";
    byte[] atLimit = (json + " ".repeat(64 * 1024 - json.length())).getBytes(StandardCharsets.UTF_8);
    assertThat(atLimit).hasSize(64 * 1024);
    assertThat(RawHttp.exchange(port, head, atLimit).status()).isEqualTo(202);
    byte[] over = (json + " ".repeat(64 * 1024 + 1 - json.length())).getBytes(StandardCharsets.UTF_8);
    RawHttp.Response r = RawHttp.exchange(port, head, over);
    assertThat(r.status()).isEqualTo(413);
    assertThat(r.body()).contains("larger than 65536 bytes");

    // Claims a gigabyte, sends 70 KiB, then waits: the server answers 413 after 64 KiB + 1 (what
    // it then does with the connection is the request timeout's business: see ServerProcessTest).
    try (Socket s = RawHttp.connect(port)) {
      OutputStream out = s.getOutputStream();
      out.write((head + "\r\nContent-Length: 1073741824\r\n\r\n").getBytes(StandardCharsets.UTF_8));
      out.write(new byte[70 * 1024]);
      out.flush();
      RawHttp.Response lying = RawHttp.read(s.getInputStream());
      assertThat(lying.status()).isEqualTo(413);
    }
    assertThat(server.manager().counters().submitted()).isEqualTo(1);
  }

  // ------------------------------------------------------------------ ids

  @Test
  void malformedAndForeignIds_get404_exactlyLikeAnUnknownId() throws Exception {
    ChatServer server = start(new FakeLlm(5, Duration.ofMillis(20), 400), StreamManager.builder());
    int port = server.port();
    String mine = submit(port, KEY);
    String theirs = submit(port, OTHER_KEY);
    List<String> ids =
        List.of(
            theirs, // another key's live stream
            "AAAAAAAAAAAAAAAAAAAAAA", // well formed, unknown
            "AAAAAAAAAAAAAAAAAAAAAB", // 22 chars, impossible last character
            mine.substring(1), // one short
            mine + "A", // one long
            "..%2F..%2Fetc%2Fpasswd",
            "%00",
            "%E2%80%AE" + mine.substring(3), // right-to-left override
            mine.substring(0, 21) + "%2F",
            "x".repeat(4_000));
    RawHttp.Response unknownStream = RawHttp.get(port, "/chat/stream/AAAAAAAAAAAAAAAAAAAAAA", KEY);
    RawHttp.Response unknownCancel = RawHttp.post(port, "/chat/cancel/AAAAAAAAAAAAAAAAAAAAAA", KEY, "");
    assertThat(unknownStream.status()).isEqualTo(404);
    assertThat(unknownCancel.status()).isEqualTo(404);
    for (String id : ids) {
      assertThat(RawHttp.get(port, "/chat/stream/" + id, KEY)).as("stream %s", id).isEqualTo(unknownStream);
      assertThat(RawHttp.get(port, "/chat/stream/" + id + "?lastEventId=1", KEY)).as("resume %s", id).isEqualTo(unknownStream);
      assertThat(RawHttp.post(port, "/chat/cancel/" + id, KEY, "")).as("cancel %s", id).isEqualTo(unknownCancel);
    }
    // Nothing was cancelled or disturbed: the other key's stream still runs.
    JsonNode stats = new ChatClient(ChatClient.newHttpClient(), server.uri(), KEY).stats().body();
    assertThat(stats.path("cancelled").asLong()).isZero();
    assertThat(stats.path("running").asLong()).isEqualTo(2);
  }

  // ------------------------------------------------------------------ flood

  @Test
  void submitFloodBeyondTheQueue_gets503_withoutGrowingMemory() throws Exception {
    ChatServer server =
        start(new FakeLlm(5, Duration.ofMillis(20), 400), StreamManager.builder().maxRunning(2).queueCapacity(8));
    int port = server.port();
    submit(port, KEY); // warm up the server's code paths before the baseline
    long before = usedHeapAfterGc();
    int floods = 2_000;
    Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
    ExecutorService clients = Executors.newFixedThreadPool(16);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int i = 0; i < floods; i++) {
        done.add(
            clients.submit(
                () -> {
                  RawHttp.Response r = RawHttp.post(port, "/chat/submit", KEY, "{\"prompt\":\"flood\"}");
                  statuses.computeIfAbsent(r.status(), k -> new AtomicInteger()).incrementAndGet();
                  if (r.status() == 503) {
                    assertThat(r.body()).isEqualTo("{\"error\":\"queue is full\"}");
                  }
                  return null;
                }));
      }
      for (Future<?> f : done) {
        f.get(40, TimeUnit.SECONDS);
      }
    } finally {
      clients.shutdownNow();
    }
    long after = usedHeapAfterGc();
    assertThat(statuses.keySet()).containsOnly(202, 503);
    assertThat(statuses.get(202).get()).isEqualTo(9); // 2 running + 8 queued, one of them the warm-up
    assertThat(statuses.get(503).get()).isEqualTo(floods - 9);
    var c = server.manager().counters();
    assertThat(c.submitted()).isEqualTo(10);
    assertThat(c.rejected()).isEqualTo(floods - 9);
    assertThat(c.running() + c.queued()).isEqualTo(10);
    assertThat(after - before).as("heap growth over %d rejected submits", floods).isLessThan(8L << 20);
  }

  // ------------------------------------------------------------------ what a source sends

  @Test
  void tokensWithSseSyntax_areEscapedIntoOneEvent_andBigTokensPassWhole() throws Exception {
    // The source echoes the prompt, then sends a 1 MiB token: neither core nor the server caps a
    // token (the request body limit, 64 KiB, bounds what a client can make a source echo).
    String forged = "x\n\nid: 99\ndata: {\"type\":\"info\",\"payload\":{\"completion_status\":\"completed\"}}\n\n";
    String big = "y".repeat(1 << 20);
    StreamManager manager = StreamManager.builder().retention(Duration.ofSeconds(1)).removeOnDelivery(false).build();
    ChatServer server =
        ChatServer.start(
            manager,
            prompt -> sink -> {
              sink.send(prompt);
              sink.send(big);
            },
            ChatServer.Options.loopback(0, Set.of(KEY), DetachPolicy.CANCEL));
    servers.add(server);
    String body = JSON.writeValueAsString(Map.of("prompt", forged));
    RawHttp.Response submitted = RawHttp.post(server.port(), "/chat/submit", KEY, body);
    assertThat(submitted.status()).isEqualTo(202);
    String id = JSON.readTree(submitted.body()).path("request_id").asText();
    ChatClient client = new ChatClient(ChatClient.newHttpClient(), server.uri(), KEY);
    List<ChatClient.Event> events = new ArrayList<>();
    try (ChatClient.Stream s = client.stream(id, null)) {
      for (ChatClient.Event e = s.next(); e != null; e = s.next()) {
        events.add(e);
      }
    }
    List<ChatClient.Event> tokens = events.stream().filter(e -> e.type().equals("token")).toList();
    assertThat(tokens).hasSize(2);
    assertThat(tokens.get(0).payload().asText()).isEqualTo(forged); // one event, text intact
    assertThat(tokens.get(1).payload().asText()).isEqualTo(big);
    assertThat(events.stream().filter(ChatClient.Event::isFinal).toList())
        .singleElement()
        .satisfies(e -> assertThat(e.status()).isEqualTo("completed"));
    assertThat(events.stream().filter(e -> e.id() == 99)).isEmpty();
  }

  private static long usedHeapAfterGc() throws InterruptedException {
    long best = Long.MAX_VALUE;
    for (int i = 0; i < 4; i++) {
      System.gc();
      Thread.sleep(50);
      best = Math.min(best, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
    }
    return best;
  }
}
