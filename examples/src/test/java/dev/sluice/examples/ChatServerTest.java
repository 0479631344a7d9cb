package dev.sluice.examples;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sluice.DetachPolicy;
import dev.sluice.StreamManager;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The chat server over real HTTP on an ephemeral loopback port, with the JDK HttpClient: the seed's
 * four scenarios, its three bugs, resume, owner scoping and every error status.
 */
@Timeout(20)
class ChatServerTest {

  static final String KEY = "test-key";
  static final String OTHER_KEY = "other-key";

  final HttpClient http = ChatClient.newHttpClient();
  final List<ChatServer> servers = new ArrayList<>();
  /** 20 tokens at 100/s: short, but long enough to act mid-stream. */
  final FakeLlm fast = new FakeLlm(100, Duration.ofMillis(20), 20);
  /** 400 tokens at 50/s: still running whenever a test looks. */
  final FakeLlm slow = new FakeLlm(50, Duration.ofMillis(20), 400);

  @AfterEach
  void stop() {
    servers.forEach(ChatServer::close);
  }

  ChatClient start(FakeLlm llm, DetachPolicy policy) throws Exception {
    return start(llm, policy, StreamManager.builder());
  }

  ChatClient start(FakeLlm llm, DetachPolicy policy, StreamManager.Builder builder) throws Exception {
    StreamManager manager =
        builder
            .retention(Duration.ofSeconds(1))
            .removeOnDelivery(false)
            .replayWindow(1024)
            .noReaderTimeout(Duration.ofSeconds(10))
            .stopTimeout(Duration.ofSeconds(2))
            .detachPolicy(policy)
            .build();
    ChatServer server =
        ChatServer.start(
            manager,
            llm::source,
            ChatServer.Options.loopback(0, Set.of(KEY, OTHER_KEY), policy)
                .withIntervals(Duration.ofMillis(100), Duration.ofMillis(200)));
    servers.add(server);
    return new ChatClient(http, server.uri(), KEY);
  }

  static String submit(ChatClient client, String prompt) throws Exception {
    ChatClient.Reply r = client.submit(prompt);
    assertThat(r.status()).as("submit: %s", r.body()).isEqualTo(202);
    return r.text("request_id");
  }

  /** Reads a stream to its end. */
  static List<ChatClient.Event> readAll(ChatClient.Stream s) throws Exception {
    assertThat(s.status()).isEqualTo(200);
    List<ChatClient.Event> events = new ArrayList<>();
    for (ChatClient.Event e = s.next(); e != null; e = s.next()) {
      events.add(e);
    }
    return events;
  }

  /** Reads until {@code n} tokens have arrived. */
  static List<ChatClient.Event> readTokens(ChatClient.Stream s, int n) throws Exception {
    assertThat(s.status()).isEqualTo(200);
    List<ChatClient.Event> events = new ArrayList<>();
    int tokens = 0;
    while (tokens < n) {
      ChatClient.Event e = s.next();
      assertThat(e).as("stream ended after %d tokens", tokens).isNotNull();
      events.add(e);
      if (e.type().equals("token")) {
        tokens++;
      }
    }
    return events;
  }

  static List<String> tokens(List<ChatClient.Event> events) {
    List<String> out = new ArrayList<>();
    events.stream().filter(e -> e.type().equals("token")).forEach(e -> out.add(e.payload().asText()));
    return out;
  }

  static void assertPrefix(List<String> tokens, List<String> answer) {
    assertThat(tokens.size()).isLessThanOrEqualTo(answer.size());
    assertThat(tokens).isEqualTo(answer.subList(0, tokens.size()));
  }

  static List<ChatClient.Event> finals(List<ChatClient.Event> events) {
    return events.stream().filter(ChatClient.Event::isFinal).toList();
  }

  static JsonNode awaitStats(ChatClient client, Predicate<JsonNode> condition) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(8).toNanos();
    JsonNode stats = client.stats().body();
    while (!condition.test(stats) && System.nanoTime() < deadline) {
      Thread.sleep(20);
      stats = client.stats().body();
    }
    assertThat(condition).as("stats %s", stats).accepts(stats);
    return stats;
  }

  // ------------------------------------------------------------------ the seed's four scenarios

  @Test
  void happyPath_streamsEveryTokenThenCompleted() throws Exception {
    ChatClient client = start(fast, DetachPolicy.CANCEL);
    String id = submit(client, "hello");

    List<ChatClient.Event> events;
    try (ChatClient.Stream s = client.stream(id, null)) {
      events = readAll(s);
    }

    assertThat(tokens(events)).isEqualTo(fast.answer("hello"));
    List<ChatClient.Event> tokenEvents = events.stream().filter(e -> e.type().equals("token")).toList();
    for (int i = 0; i < tokenEvents.size(); i++) {
      assertThat(tokenEvents.get(i).id()).isEqualTo(i + 1);
    }
    // The first info event comes after the first token and carries the time to first token.
    int first = events.indexOf(tokenEvents.get(0));
    ChatClient.Event ttft = events.stream().filter(e -> e.type().equals("info")).findFirst().orElseThrow();
    assertThat(events.indexOf(ttft)).isGreaterThan(first);
    assertThat(ttft.payload().path("timeToFirstToken").asDouble()).isGreaterThan(0).isLessThan(5);
    // Exactly one final event, last, with the next sequence number.
    assertThat(finals(events)).hasSize(1);
    ChatClient.Event last = events.get(events.size() - 1);
    assertThat(last.status()).isEqualTo("completed");
    assertThat(last.id()).isEqualTo(21);
    assertThat(last.payload().path("tokens").asLong()).isEqualTo(20);
  }

  @Test
  void cancelBeforeStream_streamGivesCancelledNotNotFound() throws Exception {
    ChatClient client = start(slow, DetachPolicy.CANCEL);
    String id = submit(client, "hello");

    ChatClient.Reply cancel = client.cancel(id);
    assertThat(cancel.status()).isEqualTo(200);
    assertThat(cancel.text("status")).isEqualTo("cancelled");

    // Seed problem #2: the record is still there for the client that cancelled and then reads.
    List<ChatClient.Event> events;
    try (ChatClient.Stream s = client.stream(id, null)) {
      events = readAll(s);
    }
    assertThat(finals(events)).singleElement().extracting(ChatClient.Event::status).isEqualTo("cancelled");
    assertThat(events.get(events.size() - 1).isFinal()).isTrue();
    assertPrefix(tokens(events), slow.answer("hello"));
  }

  @Test
  void cancelMidStream_openStreamGetsCancelledBeforeItEnds() throws Exception {
    ChatClient client = start(slow, DetachPolicy.CANCEL);
    String id = submit(client, "hello");

    List<ChatClient.Event> events;
    try (ChatClient.Stream s = client.stream(id, null)) {
      events = readTokens(s, 3);
      ChatClient.Reply cancel = client.cancel(id);
      assertThat(cancel.status()).isEqualTo(200);
      assertThat(cancel.text("status")).isEqualTo("cancelled");
      // Seed problem #3: the final event reaches the open stream, then the response ends.
      events.addAll(readAll(s));
    }
    assertThat(finals(events)).singleElement().extracting(ChatClient.Event::status).isEqualTo("cancelled");
    assertThat(events.get(events.size() - 1).isFinal()).isTrue();
    assertThat(tokens(events).size()).isLessThan(400);
    assertPrefix(tokens(events), slow.answer("hello"));
  }

  @Test
  void cancelAfterComplete_is409WithTheStatus() throws Exception {
    ChatClient client = start(fast, DetachPolicy.CANCEL);
    String id = submit(client, "hello");
    try (ChatClient.Stream s = client.stream(id, null)) {
      assertThat(finals(readAll(s))).singleElement().extracting(ChatClient.Event::status).isEqualTo("completed");
    }

    ChatClient.Reply cancel = client.cancel(id);

    assertThat(cancel.status()).isEqualTo(409);
    assertThat(cancel.text("status")).isEqualTo("completed");
    assertThat(cancel.text("error")).isEqualTo("stream already ended");
  }

  @Test
  void cancelTwice_secondIs409Cancelled() throws Exception {
    ChatClient client = start(slow, DetachPolicy.CANCEL);
    String id = submit(client, "hello");

    assertThat(client.cancel(id).status()).isEqualTo(200);
    ChatClient.Reply again = client.cancel(id);

    assertThat(again.status()).isEqualTo(409);
    assertThat(again.text("status")).isEqualTo("cancelled");
  }

  // ------------------------------------------------------------------ disconnect, resume, heartbeat

  @Test
  void clientDisconnect_cancelsTheStreamAndLeaksNothing() throws Exception {
    ChatClient client = start(slow, DetachPolicy.CANCEL);
    String id = submit(client, "hello");
    ChatClient.Stream s = client.stream(id, null);
    readTokens(s, 2);

    s.close(); // abrupt: the server notices on its next write

    // Seed problem #1: the stream is cancelled, its worker released, its response closed...
    awaitStats(
        client,
        st -> st.path("cancelled").asLong() == 1
            && st.path("running").asLong() == 0
            && st.path("open_sse_responses").asLong() == 0);
    // ...and after the retention period nothing is left in the registry.
    JsonNode stats = awaitStats(client, st -> st.path("retained").asLong() == 0);
    assertThat(stats.path("evicted").asLong()).isEqualTo(1);
    assertThat(stats.path("queued").asLong()).isZero();
    assertThat(stats.path("ignored_cancellation").asLong()).isZero();
    assertThat(client.stream(id, null).status()).isEqualTo(404);
  }

  @Test
  void resume_withLastEventId_continuesAfterTheLastEventSeen() throws Exception {
    FakeLlm llm = new FakeLlm(100, Duration.ofMillis(20), 60);
    ChatClient client = start(llm, DetachPolicy.KEEP_RUNNING);
    String id = submit(client, "hello");
    List<ChatClient.Event> events = new ArrayList<>();
    ChatClient.Stream first = client.stream(id, null);
    events.addAll(readTokens(first, 5));
    first.close();

    // Reconnect at once: the server may not have noticed the old connection is gone (takeover).
    try (ChatClient.Stream second = client.stream(id, 5L)) {
      events.addAll(readAll(second));
    }

    assertThat(tokens(events)).isEqualTo(llm.answer("hello"));
    assertThat(finals(events)).singleElement().extracting(ChatClient.Event::status).isEqualTo("completed");
    JsonNode stats = awaitStats(client, st -> st.path("completed").asLong() == 1);
    assertThat(stats.path("cancelled").asLong()).isZero();
  }

  @Test
  void resume_afterTheFinalEventWasSeen_is204() throws Exception {
    ChatClient client = start(fast, DetachPolicy.CANCEL);
    String id = submit(client, "hello");
    try (ChatClient.Stream s = client.stream(id, null)) {
      readAll(s);
    }

    try (ChatClient.Stream again = client.stream(id, 21L)) {
      assertThat(again.status()).isEqualTo(204); // tells an EventSource to stop reconnecting
    }
    try (ChatClient.Stream replay = client.stream(id, 10L)) {
      List<ChatClient.Event> rest = readAll(replay);
      assertThat(tokens(rest)).isEqualTo(fast.answer("hello").subList(10, 20));
      assertThat(finals(rest)).singleElement().extracting(ChatClient.Event::status).isEqualTo("completed");
    }
  }

  @Test
  void heartbeats_everyIntervalUntilTheFirstToken() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    StreamManager manager =
        StreamManager.builder().removeOnDelivery(false).stopTimeout(Duration.ofSeconds(2)).build();
    ChatServer server =
        ChatServer.start(
            manager,
            prompt -> sink -> {
              release.await(); // the first token waits for the test
              sink.send("late");
            },
            ChatServer.Options.loopback(0, Set.of(KEY), DetachPolicy.CANCEL)
                .withIntervals(Duration.ofMillis(50), Duration.ofMillis(200)));
    servers.add(server);
    ChatClient client = new ChatClient(http, server.uri(), KEY);
    String id = submit(client, "hello");

    List<ChatClient.Event> events = new ArrayList<>();
    try (ChatClient.Stream s = client.stream(id, null, true)) { // key in the query, as EventSource
      assertThat(s.status()).isEqualTo(200);
      for (int i = 0; i < 3; i++) {
        ChatClient.Event e = s.next();
        assertThat(e).isNotNull();
        assertThat(e.type()).isEqualTo("heartbeat");
        assertThat(e.id()).isZero(); // resuming from a heartbeat starts at the beginning
      }
      release.countDown();
      events.addAll(readAll(s));
    }

    int firstToken = events.indexOf(events.stream().filter(e -> e.type().equals("token")).findFirst().orElseThrow());
    assertThat(events.subList(0, firstToken)).allMatch(e -> e.type().equals("heartbeat"));
    assertThat(events.subList(firstToken, events.size())).noneMatch(e -> e.type().equals("heartbeat"));
    assertThat(finals(events)).singleElement().extracting(ChatClient.Event::status).isEqualTo("completed");
  }

  @Test
  void secondReader_underCancelPolicy_is409() throws Exception {
    ChatClient client = start(slow, DetachPolicy.CANCEL);
    String id = submit(client, "hello");
    try (ChatClient.Stream s = client.stream(id, null)) {
      readTokens(s, 1);
      try (ChatClient.Stream second = client.stream(id, null)) {
        assertThat(second.status()).isEqualTo(409);
        assertThat(second.errorBody().path("error").asText()).contains("already has a reader");
      }
    }
  }

  // ------------------------------------------------------------------ owners and errors

  @Test
  void anotherKey_getsNotFound_onStreamAndCancel() throws Exception {
    ChatClient client = start(slow, DetachPolicy.CANCEL);
    String id = submit(client, "hello");
    ChatClient other = client.withKey(OTHER_KEY);

    try (ChatClient.Stream s = other.stream(id, null)) {
      assertThat(s.status()).isEqualTo(404);
    }
    assertThat(other.cancel(id).status()).isEqualTo(404);
    assertThat(client.cancel(id).status()).isEqualTo(200); // untouched by the other key
  }

  @Test
  void missingOrUnknownKey_is401() throws Exception {
    ChatClient client = start(fast, DetachPolicy.CANCEL);
    String id = submit(client, "hello");
    ChatClient wrong = client.withKey("nope");

    assertThat(wrong.submit("hello").status()).isEqualTo(401);
    assertThat(wrong.cancel(id).status()).isEqualTo(401);
    try (ChatClient.Stream s = wrong.stream(id, null)) {
      assertThat(s.status()).isEqualTo(401);
    }
    HttpResponse<String> none =
        http.send(
            HttpRequest.newBuilder(uri(client, "/chat/submit"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"hi\"}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(none.statusCode()).isEqualTo(401);
    assertThat(none.body()).contains("missing API key");
  }

  @Test
  void badRequests_are400WithAMessage() throws Exception {
    ChatClient client = start(fast, DetachPolicy.CANCEL);

    assertThat(client.post("/chat/submit", "{not json")).satisfies(r -> {
      assertThat(r.status()).isEqualTo(400);
      assertThat(r.text("error")).startsWith("malformed JSON");
    });
    assertThat(client.post("/chat/submit", "{\"prompt\": \"  \"}").text("error")).contains("must not be empty");
    assertThat(client.post("/chat/submit", "{\"prompt\": 42}").status()).isEqualTo(400);
    assertThat(client.post("/chat/submit", "{}").status()).isEqualTo(400);
    assertThat(client.post("/chat/submit", "[1]").status()).isEqualTo(400);
    assertThat(client.post("/chat/submit", "").status()).isEqualTo(400);

    String id = submit(client, "hello");
    try (ChatClient.Stream s = client.stream(id, -3L)) {
      assertThat(s.status()).isEqualTo(400);
    }
  }

  @Test
  void unknownOrMalformedIds_are404() throws Exception {
    ChatClient client = start(fast, DetachPolicy.CANCEL);

    assertThat(client.cancel("AAAAAAAAAAAAAAAAAAAAAA").status()).isEqualTo(404);
    assertThat(client.cancel("not-an-id").status()).isEqualTo(404);
    try (ChatClient.Stream s = client.stream("AAAAAAAAAAAAAAAAAAAAAA", null)) {
      assertThat(s.status()).isEqualTo(404);
    }
    try (ChatClient.Stream s = client.stream("x", null)) {
      assertThat(s.status()).isEqualTo(404);
    }
    assertThat(client.post("/nowhere", "").status()).isEqualTo(404);
  }

  @Test
  void fullQueue_is503QueueIsFull() throws Exception {
    ChatClient client = start(slow, DetachPolicy.CANCEL, StreamManager.builder().maxRunning(1).queueCapacity(0));
    submit(client, "first");

    ChatClient.Reply second = client.submit("second");

    assertThat(second.status()).isEqualTo(503);
    assertThat(second.text("error")).isEqualTo("queue is full");
    assertThat(client.stats().body().path("rejected").asLong()).isEqualTo(1);
  }

  @Test
  void close_givesOpenStreamsTheirFinalCancelledEvent() throws Exception {
    ChatClient client = start(slow, DetachPolicy.CANCEL);
    String id = submit(client, "hello");
    ChatClient.Stream s = client.stream(id, null);
    List<ChatClient.Event> events = readTokens(s, 2);

    servers.get(0).close(); // what the SIGTERM hook does

    events.addAll(readAll(s));
    assertThat(finals(events)).singleElement().extracting(ChatClient.Event::status).isEqualTo("cancelled");
  }

  @Test
  void page_isServedAtRoot() throws Exception {
    ChatClient client = start(fast, DetachPolicy.CANCEL);

    HttpResponse<String> page =
        http.send(HttpRequest.newBuilder(uri(client, "/")).build(), HttpResponse.BodyHandlers.ofString());

    assertThat(page.statusCode()).isEqualTo(200);
    assertThat(page.headers().firstValue("Content-Type")).hasValueSatisfying(t -> assertThat(t).startsWith("text/html"));
    assertThat(page.body()).contains("EventSource", "id=\"stop\"");
  }

  private URI uri(ChatClient client, String path) {
    return servers.get(servers.size() - 1).uri().resolve(path);
  }
}
