package dev.sluice.examples;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.sluice.DetachPolicy;
import dev.sluice.EventsDroppedException;
import dev.sluice.StreamCounters;
import dev.sluice.StreamEvent;
import dev.sluice.StreamHandle;
import dev.sluice.StreamManager;
import dev.sluice.StreamOutcome;
import dev.sluice.StreamReader;
import dev.sluice.TokenSource;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The seed's SSE chat API on Sluice and the JDK's built-in {@code com.sun.net.httpserver}.
 *
 * <ul>
 *   <li>{@code POST /chat/submit} {@code {"prompt": "..."}} with {@code X-API-Key} → 202 {@code
 *       {"request_id": "..."}}; 401 bad key, 400 bad body, 503 queue full or shutting down.
 *   <li>{@code GET /chat/stream/{id}} → {@code text/event-stream}; every event has {@code id:} (the
 *       stream's sequence number reached) and {@code data: {"type": ..., "payload": ...}} with type
 *       {@code token}, {@code info}, {@code error} or {@code heartbeat}. {@code Last-Event-ID} (or
 *       {@code ?lastEventId=}) resumes; the key may be given as {@code ?key=} for {@code EventSource}.
 *   <li>{@code POST /chat/cancel/{id}} → 200 {@code {"status": "cancelled"}}, 409 if it had already
 *       ended (with its status), 404 if unknown or another key's.
 *   <li>{@code GET /stats} → the manager's counters; {@code GET /} → the chat page.
 * </ul>
 *
 * <p>The server owns its {@link StreamManager}: {@link #close()} closes it, so every open stream
 * receives its final {@code cancelled} event before the connections close.
 */
public final class ChatServer implements AutoCloseable {

  /* Implementation notes
   *
   * One handler thread per open SSE response (virtual on JDK 21+, found at run time): it polls the
   * stream's reader with a timeout, writing a heartbeat while no token has come yet and an SSE
   * comment (": keep-alive") every keepAlive of silence afterwards. The comments are how a client that
   * vanished without a FIN is noticed even when the stream is quiet: the write fails, the reader is
   * closed, and the detach policy applies (CANCEL: the stream is cancelled and its worker released,
   * seed problem #1).
   *
   * Event ids: every event carries the sequence number of the last stream event it includes, so a
   * resume with Last-Event-ID = n asks the core for exactly the events after n. Heartbeats before the
   * first token carry 0; the time-to-first-token info carries the token it follows (1); an error event before the terminal
   * carries terminal - 1, so a client that lost the final info event still gets it on resume.
   *
   * A reconnect often arrives before the server has noticed that the old connection is dead. Under
   * KEEP_RUNNING the newest connection takes over: it attaches (streams allow several readers) and
   * then closes the older connection's reader, so a dead connection stops holding the producer
   * back. Under CANCEL a disconnect must cancel the stream (the seed's problem #1), whatever the
   * timing of a reconnect, so a second connection gets 409 while the first is open and retries: once
   * the server notices the old connection is gone, the stream is cancelled and the retry reads the
   * final "cancelled" event.
   *
   * Streams ended are kept for the retention period (the manager is built with removeOnDelivery off by
   * Main), so a late /cancel gets 409 with the real status rather than 404, and a client that lost
   * the final event can resume to get it.
   */

  private static final Logger log = LoggerFactory.getLogger(ChatServer.class);

  /** Longest time, in seconds, a client may take to send a request's headers and body. */
  static final String MAX_REQUEST_SECONDS = "10";

  static {
    // Slowloris: by default the JDK server waits forever for a request's headers and body, holding a
    // handler thread per connection. With maxReqTime it closes a connection whose request is not read
    // in time (checked every second). The JDK reads this once, when the first HttpServer of the JVM
    // is created, so it is set here, before ours; a value given with -D wins.
    if (System.getProperty("sun.net.httpserver.maxReqTime") == null) {
      System.setProperty("sun.net.httpserver.maxReqTime", MAX_REQUEST_SECONDS);
    }
  }
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int MAX_BODY = 64 * 1024;
  private static final Duration TAKEOVER_WAIT = Duration.ofSeconds(1);

  /**
   * How the server behaves.
   *
   * @param host the address to bind, such as {@code 127.0.0.1}
   * @param port the port; 0 picks a free one
   * @param apiKeys the accepted API keys; each key is its own owner
   * @param detachPolicy the policy the manager was built with (decides how a reconnect is handled)
   * @param heartbeat the interval of heartbeat events until the first token
   * @param keepAlive the longest silence after the first token before an SSE comment is written
   */
  public record Options(
      String host,
      int port,
      Set<String> apiKeys,
      DetachPolicy detachPolicy,
      Duration heartbeat,
      Duration keepAlive) {

    /** Checks the components. */
    public Options {
      requireNonNull(host, "host");
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("port must be in [0, 65535], got " + port);
      }
      apiKeys = Set.copyOf(apiKeys);
      if (apiKeys.isEmpty() || apiKeys.stream().anyMatch(String::isBlank)) {
        throw new IllegalArgumentException("apiKeys must be non-empty and not blank, got " + apiKeys.size());
      }
      requireNonNull(detachPolicy, "detachPolicy");
      if (heartbeat.isNegative() || heartbeat.isZero()) {
        throw new IllegalArgumentException("heartbeat must be > 0, got " + heartbeat);
      }
      if (keepAlive.isNegative() || keepAlive.isZero()) {
        throw new IllegalArgumentException("keepAlive must be > 0, got " + keepAlive);
      }
    }

    /** These options with another bind address. */
    public Options withHost(String newHost) {
      return new Options(newHost, port, apiKeys, detachPolicy, heartbeat, keepAlive);
    }

    /** These options with other heartbeat and keep-alive intervals. */
    public Options withIntervals(Duration newHeartbeat, Duration newKeepAlive) {
      return new Options(host, port, apiKeys, detachPolicy, newHeartbeat, newKeepAlive);
    }

    /** Loopback on {@code port}, with heartbeats every second and keep-alives every 15 s. */
    public static Options loopback(int port, Set<String> apiKeys, DetachPolicy detachPolicy) {
      return new Options("127.0.0.1", port, apiKeys, detachPolicy, Duration.ofSeconds(1), Duration.ofSeconds(15));
    }
  }

  private final StreamManager manager;
  private final Function<String, TokenSource> sources;
  private final Options options;
  private final Map<String, String> ownerByKey;
  private final HttpServer http;
  private final ExecutorService handlers;
  private final byte[] page;
  /** The open SSE response of each stream id, for takeover on reconnect. */
  private final Map<String, StreamSession> sessions = new ConcurrentHashMap<>();
  private final AtomicInteger openStreams = new AtomicInteger();
  private volatile boolean closing;

  private ChatServer(StreamManager manager, Function<String, TokenSource> sources, Options options)
      throws IOException {
    this.manager = manager;
    this.sources = sources;
    this.options = options;
    this.ownerByKey = new HashMap<>();
    for (String key : options.apiKeys()) {
      ownerByKey.put(key, ownerOf(key));
    }
    try (InputStream in = ChatServer.class.getResourceAsStream("chat.html")) {
      if (in == null) {
        throw new IOException("chat.html is missing from the classpath");
      }
      this.page = in.readAllBytes();
    }
    this.handlers = newHandlerExecutor();
    this.http = HttpServer.create(new InetSocketAddress(options.host(), options.port()), 1024);
    http.setExecutor(handlers);
    http.createContext("/", guarded(this::page));
    http.createContext("/chat/submit", guarded(this::submit));
    http.createContext("/chat/stream/", guarded(this::stream));
    http.createContext("/chat/cancel/", guarded(this::cancel));
    http.createContext("/stats", guarded(this::stats));
    http.start();
  }

  /**
   * Starts a server that answers prompts with {@code sources}. The server takes ownership of {@code
   * manager} and closes it on {@link #close()}; build the manager with {@code removeOnDelivery(false)}
   * so that ended streams answer until their retention passes.
   *
   * @throws IOException if the address cannot be bound
   */
  public static ChatServer start(
      StreamManager manager, Function<String, TokenSource> sources, Options options) throws IOException {
    return new ChatServer(
        requireNonNull(manager, "manager"), requireNonNull(sources, "sources"), requireNonNull(options, "options"));
  }

  /** The port the server listens on. */
  public int port() {
    return http.getAddress().getPort();
  }

  /** The server's base URI, such as {@code http://127.0.0.1:8080}. */
  public URI uri() {
    return URI.create("http://" + options.host() + ":" + port());
  }

  /** The manager this server owns. */
  public StreamManager manager() {
    return manager;
  }

  /** SSE responses open right now. */
  public int openStreams() {
    return openStreams.get();
  }

  /**
   * Shuts down gracefully: new submissions get 503, the manager is closed (every open stream gets its
   * final {@code cancelled} event), open responses get up to two seconds to write it, then the
   * listener and the handler threads stop. Idempotent.
   */
  @Override
  public void close() {
    closing = true;
    manager.close();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
    while (openStreams.get() > 0 && System.nanoTime() < deadline) {
      sleepQuietly(10);
    }
    http.stop(0);
    handlers.shutdown();
    try {
      if (!handlers.awaitTermination(2, TimeUnit.SECONDS)) {
        handlers.shutdownNow();
      }
    } catch (InterruptedException e) {
      handlers.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  // ------------------------------------------------------------------ endpoints

  private void page(HttpExchange ex) throws IOException {
    String path = ex.getRequestURI().getPath();
    if (!path.equals("/") && !path.equals("/index.html")) {
      error(ex, 404, "no such endpoint: " + path);
      return;
    }
    if (!requireMethod(ex, "GET")) {
      return;
    }
    ex.getResponseHeaders().set("Content-Type", "text/html; charset=utf-8");
    ex.getResponseHeaders().set("Cache-Control", "no-cache");
    ex.sendResponseHeaders(200, page.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(page);
    }
  }

  private void submit(HttpExchange ex) throws IOException {
    if (!exactPath(ex, "/chat/submit") || !requireMethod(ex, "POST")) {
      return;
    }
    String owner = authenticate(ex, false);
    if (owner == null) {
      return;
    }
    byte[] body = ex.getRequestBody().readNBytes(MAX_BODY + 1);
    if (body.length > MAX_BODY) {
      error(ex, 413, "request body is larger than " + MAX_BODY + " bytes");
      return;
    }
    JsonNode json;
    try {
      json = JSON.readTree(body);
    } catch (JsonProcessingException e) {
      error(ex, 400, "malformed JSON: " + e.getOriginalMessage());
      return;
    }
    if (json == null || !json.isObject()) {
      error(ex, 400, "the body must be a JSON object such as {\"prompt\": \"...\"}");
      return;
    }
    JsonNode prompt = json.get("prompt");
    if (prompt == null || !prompt.isTextual()) {
      error(ex, 400, "\"prompt\" is required and must be a string");
      return;
    }
    if (prompt.asText().isBlank()) {
      error(ex, 400, "\"prompt\" must not be empty");
      return;
    }
    if (closing) {
      error(ex, 503, "server is shutting down");
      return;
    }
    StreamHandle handle;
    try {
      handle = manager.submit(owner, sources.apply(prompt.asText()));
    } catch (RejectedExecutionException e) {
      error(ex, 503, "queue is full");
      return;
    } catch (IllegalStateException e) {
      error(ex, 503, "server is shutting down");
      return;
    }
    json(ex, 202, Map.of("request_id", handle.id()));
  }

  private void cancel(HttpExchange ex) throws IOException {
    if (!requireMethod(ex, "POST")) {
      return;
    }
    String owner = authenticate(ex, false);
    if (owner == null) {
      return;
    }
    Optional<StreamHandle> found = find(owner, idFrom(ex, "/chat/cancel/"));
    if (found.isEmpty()) {
      error(ex, 404, "stream not found");
      return;
    }
    StreamHandle handle = found.get();
    if (handle.cancel()) {
      json(ex, 200, Map.of("status", "cancelled"));
      return;
    }
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("error", "stream already ended");
    body.put("status", statusName(outcomeOf(handle).status()));
    json(ex, 409, body);
  }

  private void stats(HttpExchange ex) throws IOException {
    if (!exactPath(ex, "/stats") || !requireMethod(ex, "GET")) {
      return;
    }
    StreamCounters c = manager.counters();
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("running", c.running());
    body.put("queued", c.queued());
    body.put("retained", c.retained());
    body.put("submitted", c.submitted());
    body.put("rejected", c.rejected());
    body.put("completed", c.completed());
    body.put("cancelled", c.cancelled());
    body.put("failed", c.failed());
    body.put("timed_out", c.timedOut());
    body.put("evicted", c.evicted());
    body.put("tokens_sent", c.tokensSent());
    body.put("tokens_dropped_after_cancel", c.tokensDroppedAfterCancel());
    body.put("ignored_cancellation", c.ignoredCancellation());
    body.put("open_sse_responses", openStreams.get());
    json(ex, 200, body);
  }

  private void stream(HttpExchange ex) throws IOException {
    if (!requireMethod(ex, "GET")) {
      return;
    }
    String owner = authenticate(ex, true);
    if (owner == null) {
      return;
    }
    String id = idFrom(ex, "/chat/stream/");
    Optional<StreamHandle> found = find(owner, id);
    if (found.isEmpty()) {
      error(ex, 404, "stream not found");
      return;
    }
    StreamHandle handle = found.get();
    String lastEventId = ex.getRequestHeaders().getFirst("Last-Event-ID");
    if (lastEventId == null) {
      lastEventId = query(ex).get("lastEventId");
    }
    long last = 0;
    if (lastEventId != null && !lastEventId.isBlank()) {
      try {
        last = Long.parseLong(lastEventId.strip());
      } catch (NumberFormatException e) {
        last = -1;
      }
      if (last < 0) {
        error(ex, 400, "Last-Event-ID must be a sequence number >= 0, got \"" + lastEventId + "\"");
        return;
      }
    }
    if (handle.state() != StreamHandle.State.RUNNING && last >= outcomeOf(handle).tokens() + 1) {
      // The client has seen the final event: 204 tells an EventSource to stop reconnecting.
      ex.sendResponseHeaders(204, -1);
      ex.close();
      return;
    }
    if (options.detachPolicy() == DetachPolicy.CANCEL && sessions.containsKey(handle.id())) {
      error(ex, 409, "stream already has a reader on another connection; with --detach cancel that"
          + " connection must close first (its disconnect cancels the stream): retry");
      return;
    }
    StreamReader reader;
    try {
      reader = attach(handle, last);
    } catch (EventsDroppedException e) {
      Map<String, Object> body = new LinkedHashMap<>();
      body.put("error", e.getMessage());
      body.put("first_retained", e.firstRetained());
      json(ex, 410, body);
      return;
    } catch (IllegalArgumentException e) {
      error(ex, 400, "cannot resume: " + e.getMessage());
      return;
    }
    StreamSession session = new StreamSession(reader);
    sessions.put(handle.id(), session);
    openStreams.incrementAndGet();
    try {
      ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
      ex.getResponseHeaders().set("Cache-Control", "no-cache");
      ex.getResponseHeaders().set("X-Accel-Buffering", "no");
      ex.sendResponseHeaders(200, 0);
      try (OutputStream out = ex.getResponseBody()) {
        out.write("retry: 1000\n\n".getBytes(UTF_8));
        out.flush();
        pump(handle, reader, out);
      }
    } catch (IOException e) {
      log.debug("stream {}: client went away ({})", handle.id(), e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (IllegalStateException e) {
      log.debug("stream {}: reader closed by a newer connection", handle.id());
    } finally {
      reader.close(); // before the terminal event: a disconnect, handled by the detach policy
      sessions.remove(handle.id(), session);
      openStreams.decrementAndGet();
      ex.close();
    }
  }

  /**
   * Writes events until the terminal one; throws IOException when the client has gone. Events that
   * are already buffered are written together and flushed once, so a reader that fell behind catches
   * up in a few writes instead of one per token.
   */
  private void pump(StreamHandle handle, StreamReader reader, OutputStream out)
      throws IOException, InterruptedException {
    boolean sawToken = reader.lastSequence() > 0;
    boolean unflushed = false;
    boolean ttftPending = false;
    while (true) {
      StreamEvent event = reader.poll(Duration.ZERO);
      if (event == null) {
        if (unflushed) {
          out.flush();
          unflushed = false;
        }
        event = reader.poll(sawToken ? options.keepAlive() : options.heartbeat());
      }
      if (event == null) {
        if (sawToken) {
          out.write(": keep-alive\n\n".getBytes(UTF_8));
        } else {
          write(out, reader.lastSequence(), "heartbeat", null);
        }
        out.flush();
      } else if (event instanceof StreamEvent.Token) {
        StreamEvent.Token token = (StreamEvent.Token) event;
        write(out, token.sequence(), "token", token.text());
        unflushed = true;
        sawToken = true;
        if (token.sequence() == 1) {
          ttftPending = true;
          awaitTimeToFirstToken(handle);
        }
        if (ttftPending) {
          Optional<Duration> ttft = handle.timeToFirstToken();
          if (ttft.isPresent()) {
            write(out, reader.lastSequence(), "info", Map.of("timeToFirstToken", ttft.get().toNanos() / 1e9));
            ttftPending = false;
          }
        }
      } else {
        StreamEvent.Terminal terminal = (StreamEvent.Terminal) event;
        StreamOutcome outcome = terminal.outcome();
        if (outcome.status() == StreamOutcome.Status.FAILED
            || outcome.status() == StreamOutcome.Status.TIMED_OUT) {
          String message = outcome.message();
          write(out, terminal.sequence() - 1, "error", message == null ? statusName(outcome.status()) : message);
        }
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("completion_status", statusName(outcome.status()));
        info.put("tokens", outcome.tokens());
        write(out, terminal.sequence(), "info", info);
        out.flush();
        return;
      }
    }
  }

  /**
   * Works around a core race: the producer publishes token 1 before it records the time to first
   * token, so a fast reader can see the token while {@code timeToFirstToken()} is still empty. The gap
   * is a few instructions on the producer's thread; wait up to 50 ms for it, and otherwise the info
   * event follows a later token.
   */
  private static void awaitTimeToFirstToken(StreamHandle handle) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(50);
    for (int spins = 0; handle.timeToFirstToken().isEmpty() && System.nanoTime() < deadline; spins++) {
      if (spins < 100) {
        Thread.onSpinWait();
      } else {
        Thread.sleep(1);
      }
    }
  }

  /** Attaches a reader for a (re)connection; under KEEP_RUNNING the newest connection takes over. */
  private StreamReader attach(StreamHandle handle, long last) {
    StreamReader reader = handle.attach(last);
    StreamSession old = sessions.get(handle.id());
    if (old != null && options.detachPolicy() == DetachPolicy.KEEP_RUNNING) {
      old.reader.close(); // after attaching: the stream never has zero readers on the way
    }
    return reader;
  }

  // ------------------------------------------------------------------ helpers

  private Optional<StreamHandle> find(String owner, String id) {
    if (id.isEmpty() || id.indexOf('/') >= 0) {
      return Optional.empty();
    }
    try {
      return manager.find(owner, id);
    } catch (IllegalArgumentException malformed) {
      return Optional.empty();
    }
  }

  /** Returns the owner for the request's key, or answers 401 and returns null. */
  private @Nullable String authenticate(HttpExchange ex, boolean queryAllowed) throws IOException {
    String key = ex.getRequestHeaders().getFirst("X-API-Key");
    if (key == null && queryAllowed) {
      key = query(ex).get("key");
    }
    String owner = null;
    if (key != null) {
      byte[] given = key.getBytes(UTF_8);
      for (Map.Entry<String, String> e : ownerByKey.entrySet()) {
        // Constant time per key, so response times say nothing about how much of a key matched.
        if (MessageDigest.isEqual(given, e.getKey().getBytes(UTF_8))) {
          owner = e.getValue();
        }
      }
    }
    if (owner == null) {
      error(ex, 401, key == null ? "missing API key (header X-API-Key)" : "unknown API key");
    }
    return owner;
  }

  /** The owner id for a key: a hash, so that keys never appear in logs or in memory dumps of handles. */
  private static String ownerOf(String key) {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(key.getBytes(UTF_8));
      StringBuilder hex = new StringBuilder("key-");
      for (int i = 0; i < 8; i++) {
        hex.append(String.format(Locale.ROOT, "%02x", digest[i]));
      }
      return hex.toString();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JDK", e);
    }
  }

  private static StreamOutcome outcomeOf(StreamHandle handle) {
    // The state changes before the outcome is completed, by the same thread, within microseconds.
    try {
      return handle.outcome().toCompletableFuture().get(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted waiting for the outcome of " + handle.id(), e);
    } catch (java.util.concurrent.ExecutionException | TimeoutException e) {
      throw new IllegalStateException("no outcome for ended stream " + handle.id(), e);
    }
  }

  static String statusName(StreamOutcome.Status status) {
    return status.name().toLowerCase(Locale.ROOT);
  }

  /** Writes one event without flushing. */
  private static void write(OutputStream out, long id, String type, @Nullable Object payload)
      throws IOException {
    Map<String, Object> event = new LinkedHashMap<>();
    event.put("type", type);
    event.put("payload", payload);
    byte[] data = JSON.writeValueAsBytes(event);
    out.write(("id: " + id + "\ndata: ").getBytes(UTF_8));
    out.write(data);
    out.write('\n');
    out.write('\n');
  }

  private static String idFrom(HttpExchange ex, String prefix) {
    String path = ex.getRequestURI().getPath();
    return path.length() > prefix.length() ? path.substring(prefix.length()) : "";
  }

  private static Map<String, String> query(HttpExchange ex) {
    Map<String, String> params = new HashMap<>();
    String raw = ex.getRequestURI().getRawQuery();
    if (raw == null) {
      return params;
    }
    for (String pair : raw.split("&")) {
      int eq = pair.indexOf('=');
      if (eq > 0) {
        params.putIfAbsent(
            URLDecoder.decode(pair.substring(0, eq), UTF_8), URLDecoder.decode(pair.substring(eq + 1), UTF_8));
      }
    }
    return params;
  }

  private boolean exactPath(HttpExchange ex, String path) throws IOException {
    if (ex.getRequestURI().getPath().equals(path)) {
      return true;
    }
    error(ex, 404, "no such endpoint: " + ex.getRequestURI().getPath());
    return false;
  }

  private boolean requireMethod(HttpExchange ex, String method) throws IOException {
    if (ex.getRequestMethod().equals(method)) {
      return true;
    }
    ex.getResponseHeaders().set("Allow", method);
    error(ex, 405, "use " + method);
    return false;
  }

  private static void error(HttpExchange ex, int status, String message) throws IOException {
    json(ex, status, Map.of("error", message));
  }

  private static void json(HttpExchange ex, int status, Map<String, ?> body) throws IOException {
    byte[] bytes = JSON.writeValueAsBytes(body);
    ex.getResponseHeaders().set("Content-Type", "application/json");
    ex.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }

  /** Wraps a handler so that an unexpected exception is logged and answered with 500. */
  private static com.sun.net.httpserver.HttpHandler guarded(Handler handler) {
    return ex -> {
      try {
        handler.handle(ex);
      } catch (IOException | UncheckedIOException e) {
        log.debug("{} {}: connection failed: {}", ex.getRequestMethod(), ex.getRequestURI(), e.toString());
      } catch (RuntimeException e) {
        log.warn("{} {} failed", ex.getRequestMethod(), ex.getRequestURI(), e);
        try {
          json(ex, 500, Map.of("error", "internal error: " + e));
        } catch (IOException | RuntimeException ignored) {
          // headers already sent: nothing more to tell the client
        }
      } finally {
        ex.close();
      }
    };
  }

  @FunctionalInterface
  private interface Handler {
    void handle(HttpExchange ex) throws IOException;
  }

  private static final class StreamSession {
    final StreamReader reader;

    StreamSession(StreamReader reader) {
      this.reader = reader;
    }
  }

  /** A virtual thread per request on JDK 21+, else a cached pool of daemon threads. */
  private static ExecutorService newHandlerExecutor() {
    try {
      return (ExecutorService)
          MethodHandles.publicLookup()
              .findStatic(Executors.class, "newVirtualThreadPerTaskExecutor", MethodType.methodType(ExecutorService.class))
              .invoke();
    } catch (Throwable jdk17) {
      AtomicInteger n = new AtomicInteger();
      return Executors.newCachedThreadPool(
          r -> {
            Thread t = new Thread(r, "chat-http-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
          });
    }
  }

  private static void sleepQuietly(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
