package dev.sluice.examples;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.DetachPolicy;
import dev.sluice.StreamManager;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * HTTP chaos: hundreds of concurrent clients on loopback that leave the example server abruptly at
 * random points (mid-headers, mid-body, mid-stream, right after a cancel, before reading anything),
 * by FIN or by TCP reset, bounded in count and time. Then {@code /stats} must show nothing leaked: no
 * stream running or queued, no SSE response open, nothing retained after the retention period, the
 * counters adding up, no source ignoring cancellation; and no thread left in a handler or a source.
 */
@Timeout(120)
class HttpChaosTest {

  static final int CLIENTS = Integer.getInteger("sluice.chaos.clients", 400);
  static final int CONCURRENCY = 48;
  static final String KEY = "chaos-key";
  static final ObjectMapper JSON = new ObjectMapper();

  enum Move {
    LEAVE_MID_HEADERS,
    LEAVE_MID_BODY,
    LEAVE_MID_STREAM,
    LEAVE_BEFORE_READING,
    CANCEL_MID_STREAM_THEN_LEAVE,
    CANCEL_MID_STREAM_THEN_READ_TO_END,
    CANCEL_THEN_STREAM_THEN_LEAVE,
    READ_TO_END,
    LEAVE_THEN_RESUME,
    SUBMIT_AND_NEVER_COME_BACK
  }

  ChatServer server;

  @AfterEach
  void stop() {
    if (server != null) {
      server.close();
    }
  }

  @ParameterizedTest
  @EnumSource(DetachPolicy.class)
  void hundredsOfClientsLeavingAbruptly_leaveNoStreamNoResponseNoWorker(DetachPolicy policy) throws Exception {
    StreamManager manager =
        StreamManager.builder()
            .maxRunning(64)
            .queueCapacity(1024)
            .retention(Duration.ofSeconds(1))
            .removeOnDelivery(false)
            .noReaderTimeout(Duration.ofSeconds(2))
            .stopTimeout(Duration.ofSeconds(2))
            .detachPolicy(policy)
            .build();
    server =
        ChatServer.start(
            manager,
            // 100 tokens: more than the buffer (64), so a stream nobody reads blocks until the
            // no-reader timeout ends it.
            new FakeLlm(250, Duration.ofMillis(30), 100)::source,
            ChatServer.Options.loopback(0, Set.of(KEY), policy)
                .withIntervals(Duration.ofMillis(50), Duration.ofMillis(100)));
    int port = server.port();

    AtomicLongArray moves = new AtomicLongArray(Move.values().length);
    ExecutorService clients = Executors.newFixedThreadPool(CONCURRENCY);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int i = 0; i < CLIENTS; i++) {
        long seed = 7_000L + i;
        done.add(
            clients.submit(
                () -> {
                  if (System.nanoTime() > deadline) {
                    return null; // bounded in time as well as in count
                  }
                  SplittableRandom rnd = new SplittableRandom(seed);
                  Move move = Move.values()[rnd.nextInt(Move.values().length)];
                  moves.incrementAndGet(move.ordinal());
                  client(port, move, rnd);
                  return null;
                }));
      }
      for (Future<?> f : done) {
        f.get(90, TimeUnit.SECONDS);
      }
    } finally {
      clients.shutdownNow();
    }

    // Everything ends: cancelled by a disconnect or a cancel, completed, or timed out without a reader.
    JsonNode stats =
        awaitStats(
            port,
            st -> st.path("running").asLong() == 0
                && st.path("queued").asLong() == 0
                && st.path("open_sse_responses").asLong() == 0
                && st.path("retained").asLong() == 0);
    Map<Move, Long> byMove = new EnumMap<>(Move.class);
    for (Move m : Move.values()) {
      byMove.put(m, moves.get(m.ordinal()));
    }
    System.out.println("HTTP chaos (" + policy + "): " + CLIENTS + " clients " + byMove + System.lineSeparator() + "  /stats " + stats);

    long ended = stats.path("completed").asLong() + stats.path("cancelled").asLong()
        + stats.path("failed").asLong() + stats.path("timed_out").asLong();
    assertThat(stats.path("submitted").asLong()).as("submitted = ended: %s", stats).isEqualTo(ended);
    assertThat(stats.path("submitted").asLong()).isPositive();
    assertThat(stats.path("cancelled").asLong()).isPositive();
    assertThat(stats.path("failed").asLong()).isZero();
    assertThat(stats.path("rejected").asLong()).isZero();
    assertThat(stats.path("ignored_cancellation").asLong()).isZero();
    // Abandoned streams time out (no reader); so may one whose GET was reset before the server read
    // it, and under KEEP_RUNNING every stream whose client left for good.
    long abandoned = byMove.get(Move.SUBMIT_AND_NEVER_COME_BACK);
    long mayTimeOut = abandoned + byMove.get(Move.LEAVE_BEFORE_READING)
        + (policy == DetachPolicy.KEEP_RUNNING ? byMove.get(Move.LEAVE_MID_STREAM) + byMove.get(Move.LEAVE_THEN_RESUME) : 0);
    assertThat(stats.path("timed_out").asLong()).as("timed out: the abandoned ones").isBetween(abandoned, mayTimeOut);
    assertThat(threadsInside("dev.sluice.DefaultStream", "runWorker")).as("workers inside a source").isZero();
    assertThat(awaitNoThreadInside("dev.sluice.examples.ChatServer", "stream")).as("handlers inside an SSE response").isZero();
    assertThat(RawHttp.get(port, "/stats", null).status()).isEqualTo(200); // and still serving
  }

  /** One client's visit, leaving at a random point. */
  private static void client(int port, Move move, SplittableRandom rnd) throws Exception {
    switch (move) {
      case LEAVE_MID_HEADERS -> {
        String full = (rnd.nextBoolean()
                ? "POST /chat/submit HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + KEY + "\r\nContent-Length: 15\r\n\r\n"
                : "GET /chat/stream/AAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + KEY + "\r\n\r\n");
        try (Socket s = RawHttp.connect(port)) {
          s.getOutputStream().write(full.substring(0, rnd.nextInt(full.length() - 4)).getBytes(StandardCharsets.US_ASCII));
          s.getOutputStream().flush();
          leave(s, rnd);
        }
      }
      case LEAVE_MID_BODY -> {
        try (Socket s = RawHttp.connect(port)) {
          OutputStream o = s.getOutputStream();
          o.write(("POST /chat/submit HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + KEY
                  + "\r\nContent-Length: 200\r\n\r\n{\"prompt\":\"" + "x".repeat(rnd.nextInt(150))).getBytes(StandardCharsets.US_ASCII));
          o.flush();
          leave(s, rnd);
        }
      }
      case LEAVE_MID_STREAM -> {
        String id = submit(port);
        try (Socket s = openStream(port, id)) {
          readSome(s, 1 + rnd.nextInt(3_000));
          leave(s, rnd);
        }
      }
      case LEAVE_BEFORE_READING -> {
        String id = submit(port);
        try (Socket s = openStream(port, id)) {
          leave(s, rnd);
        }
      }
      case CANCEL_MID_STREAM_THEN_LEAVE -> {
        String id = submit(port);
        try (Socket s = openStream(port, id)) {
          readSome(s, 1 + rnd.nextInt(2_000));
          cancel(port, id);
          leave(s, rnd);
        }
      }
      case CANCEL_MID_STREAM_THEN_READ_TO_END -> {
        String id = submit(port);
        try (Socket s = openStream(port, id)) {
          readSome(s, 1 + rnd.nextInt(2_000));
          cancel(port, id);
          String rest = readToEnd(s);
          assertThat(rest).contains("completion_status"); // the final event arrives (seed bug #3)
        }
      }
      case CANCEL_THEN_STREAM_THEN_LEAVE -> {
        String id = submit(port);
        cancel(port, id);
        try (Socket s = openStream(port, id)) {
          readSome(s, rnd.nextInt(200));
          leave(s, rnd);
        }
      }
      case READ_TO_END -> {
        String id = submit(port);
        try (Socket s = openStream(port, id)) {
          String all = readToEnd(s);
          assertThat(all).contains("\"completion_status\":\"completed\"");
        }
      }
      case LEAVE_THEN_RESUME -> {
        String id = submit(port);
        String seen;
        try (Socket s = openStream(port, id)) {
          seen = readSomeText(s, 200 + rnd.nextInt(2_000));
          leave(s, rnd);
        }
        long last = lastEventId(seen);
        try (Socket s = RawHttp.connect(port)) {
          s.getOutputStream().write(("GET /chat/stream/" + id + " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + KEY
                  + "\r\nLast-Event-ID: " + last + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
          String rest = readToEnd(s);
          int status = Integer.parseInt(rest.substring(9, 12));
          assertThat(status).as(rest).isIn(200, 204, 409, 410); // 410: the server had written far ahead into the socket buffers
          if (status == 200) {
            assertThat(rest).contains("completion_status");
          }
        }
      }
      case SUBMIT_AND_NEVER_COME_BACK -> submit(port);
      default -> throw new IllegalStateException("move " + move);
    }
  }

  private static String submit(int port) throws IOException {
    RawHttp.Response r = RawHttp.post(port, "/chat/submit", KEY, "{\"prompt\":\"chaos\"}");
    assertThat(r.status()).as(r.body()).isEqualTo(202);
    return JSON.readTree(r.body()).path("request_id").asText();
  }

  private static void cancel(int port, String id) throws IOException {
    int status = RawHttp.post(port, "/chat/cancel/" + id, KEY, "").status();
    assertThat(status).isIn(200, 409); // 409: it had already ended
  }

  private static Socket openStream(int port, String id) throws IOException {
    Socket s = RawHttp.connect(port);
    s.getOutputStream().write(("GET /chat/stream/" + id + " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + KEY
            + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
    s.getOutputStream().flush();
    return s;
  }

  private static void readSome(Socket s, int bytes) throws IOException {
    InputStream in = s.getInputStream();
    byte[] buf = new byte[bytes];
    int got = 0;
    try {
      while (got < bytes) {
        int n = in.read(buf, got, bytes - got);
        if (n < 0) {
          return;
        }
        got += n;
      }
    } catch (SocketTimeoutException e) {
      throw new AssertionError("no data from the server within the read timeout", e);
    }
  }

  private static String readSomeText(Socket s, int bytes) throws IOException {
    InputStream in = s.getInputStream();
    byte[] buf = new byte[bytes];
    int got = 0;
    while (got < bytes) {
      int n = in.read(buf, got, bytes - got);
      if (n < 0) {
        break;
      }
      got += n;
    }
    return new String(buf, 0, got, StandardCharsets.UTF_8);
  }

  /** The last complete event's id in a piece of an SSE response (0 if none). */
  private static long lastEventId(String sse) {
    long last = 0;
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("\nid: (\\d+)\ndata: [^\n]*\n\n").matcher(sse);
    while (m.find()) {
      last = Long.parseLong(m.group(1));
    }
    return last;
  }

  private static String readToEnd(Socket s) throws IOException {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    s.getInputStream().transferTo(all);
    return all.toString(StandardCharsets.UTF_8);
  }

  /** Leaves by FIN or by reset, sometimes after a short pause. */
  private static void leave(Socket s, SplittableRandom rnd) throws IOException {
    if (rnd.nextInt(4) == 0) {
      try {
        Thread.sleep(rnd.nextInt(20));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (rnd.nextBoolean()) {
      RawHttp.reset(s);
    } else {
      s.close();
    }
  }

  private static JsonNode awaitStats(int port, Predicate<JsonNode> done) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    JsonNode last = null;
    while (System.nanoTime() < deadline) {
      last = JSON.readTree(RawHttp.get(port, "/stats", null).body());
      if (done.test(last)) {
        return last;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("stats never settled: " + last);
  }

  private static long threadsInside(String className, String method) {
    return Thread.getAllStackTraces().values().stream()
        .filter(stack -> java.util.Arrays.stream(stack)
            .anyMatch(f -> f.getClassName().equals(className) && f.getMethodName().equals(method)))
        .count();
  }

  /** Handler threads leave ChatServer.stream right after open_sse_responses drops: allow a moment. */
  private static long awaitNoThreadInside(String className, String method) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    long n;
    while ((n = threadsInside(className, method)) > 0 && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    return n;
  }
}
