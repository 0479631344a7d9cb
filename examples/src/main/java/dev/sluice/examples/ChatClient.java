package dev.sluice.examples;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.MissingNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A small client of the {@link ChatServer} API over the JDK {@link HttpClient}: JSON calls and an SSE
 * reader. Used by the demo and the tests, as any Java client of the server would.
 */
public final class ChatClient {

  private static final ObjectMapper JSON = new ObjectMapper();

  private final HttpClient http;
  private final URI base;
  private final String key;

  /** A client of the server at {@code base} (such as {@code http://127.0.0.1:8080}) with API key {@code key}. */
  public ChatClient(HttpClient http, URI base, String key) {
    this.http = http;
    this.base = base;
    this.key = key;
  }

  /** A client with another API key. */
  public ChatClient withKey(String otherKey) {
    return new ChatClient(http, base, otherKey);
  }

  /** An HTTP/1.1 client with a connect timeout, suitable for loopback. */
  public static HttpClient newHttpClient() {
    return HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5))
        .build();
  }

  /** A JSON response: status and body (a missing node if the body was empty or not JSON). */
  public record Reply(int status, JsonNode body) {
    /** {@code body.path(field).asText()}. */
    public String text(String field) {
      return body.path(field).asText();
    }
  }

  /** One SSE event: its {@code id:} (the last one seen), type and payload. */
  public record Event(long id, String type, JsonNode payload) {
    /** Whether this is the final info event, carrying {@code completion_status}. */
    public boolean isFinal() {
      return type.equals("info") && payload.has("completion_status");
    }

    /** The completion status of a final event, else empty. */
    public String status() {
      return payload.path("completion_status").asText();
    }
  }

  /** {@code POST /chat/submit} with {@code {"prompt": prompt}}. */
  public Reply submit(String prompt) throws IOException, InterruptedException {
    return post("/chat/submit", JSON.writeValueAsString(Map.of("prompt", prompt)));
  }

  /** {@code POST /chat/cancel/{id}}. */
  public Reply cancel(String id) throws IOException, InterruptedException {
    return post("/chat/cancel/" + id, "");
  }

  /** {@code GET /stats}. */
  public Reply stats() throws IOException, InterruptedException {
    return send(HttpRequest.newBuilder(base.resolve("/stats")).timeout(Duration.ofSeconds(10)).GET().build());
  }

  /** Posts a raw body to {@code path} with this client's key. */
  public Reply post(String path, String body) throws IOException, InterruptedException {
    return send(
        HttpRequest.newBuilder(base.resolve(path))
            .timeout(Duration.ofSeconds(10))
            .header("X-API-Key", key)
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body, UTF_8))
            .build());
  }

  private Reply send(HttpRequest request) throws IOException, InterruptedException {
    HttpResponse<byte[]> r = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
    JsonNode body;
    try {
      body = r.body().length == 0 ? MissingNode.getInstance() : JSON.readTree(r.body());
    } catch (IOException notJson) {
      body = MissingNode.getInstance();
    }
    return new Reply(r.statusCode(), body == null ? MissingNode.getInstance() : body);
  }

  /**
   * Opens {@code GET /chat/stream/{id}}, with {@code Last-Event-ID} if {@code lastEventId} is not null.
   * The key goes in the header, or in the query when {@code keyInQuery} (as a browser does).
   */
  public Stream stream(String id, @Nullable Long lastEventId, boolean keyInQuery)
      throws IOException, InterruptedException {
    String path = "/chat/stream/" + id;
    if (keyInQuery) {
      path += "?key=" + URLEncoder.encode(key, UTF_8);
    }
    HttpRequest.Builder request =
        HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(10)).GET();
    if (!keyInQuery) {
      request.header("X-API-Key", key);
    }
    if (lastEventId != null) {
      request.header("Last-Event-ID", Long.toString(lastEventId));
    }
    return new Stream(http.send(request.build(), HttpResponse.BodyHandlers.ofInputStream()));
  }

  /** {@link #stream(String, Long, boolean)} with the key in the header. */
  public Stream stream(String id, @Nullable Long lastEventId) throws IOException, InterruptedException {
    return stream(id, lastEventId, false);
  }

  /**
   * An open SSE response. {@link #close()} from any thread drops the connection (an abrupt client
   * disconnect, as far as the server can tell).
   */
  public static final class Stream implements AutoCloseable {
    private final HttpResponse<InputStream> response;
    private final BufferedReader lines;
    private long lastId;

    Stream(HttpResponse<InputStream> response) {
      this.response = response;
      this.lines = new BufferedReader(new InputStreamReader(response.body(), UTF_8));
    }

    /** The HTTP status. */
    public int status() {
      return response.statusCode();
    }

    /** The body of a non-200 response, as JSON (missing if none). */
    public JsonNode errorBody() throws IOException {
      byte[] bytes = response.body().readNBytes(64 * 1024);
      return bytes.length == 0 ? MissingNode.getInstance() : JSON.readTree(bytes);
    }

    /** The next event, or null when the response has ended. */
    public @Nullable Event next() throws IOException {
      StringBuilder data = null;
      for (String line = lines.readLine(); line != null; line = lines.readLine()) {
        if (line.isEmpty()) {
          if (data != null) {
            JsonNode event = JSON.readTree(data.toString());
            return new Event(lastId, event.path("type").asText(), event.path("payload"));
          }
        } else if (line.startsWith("id:")) {
          lastId = Long.parseLong(line.substring(3).strip());
        } else if (line.startsWith("data:")) {
          String value = line.substring(5).stripLeading();
          data = data == null ? new StringBuilder(value) : data.append('\n').append(value);
        }
      }
      return null;
    }

    @Override
    public void close() {
      try {
        response.body().close();
      } catch (IOException ignored) {
        // dropping the connection: nothing more to do
      }
    }
  }
}
