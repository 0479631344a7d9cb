package dev.sluice.examples;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.TokenSink;
import dev.sluice.TokenSource;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.jspecify.annotations.Nullable;

/**
 * Streams a chat completion from an OpenAI-compatible server ({@code POST /v1/chat/completions}
 * with {@code "stream": true}): OpenAI itself, or a local vLLM, Ollama or llama.cpp server.
 *
 * <p>Each {@code data: {...}} chunk's {@code choices[0].delta.content} is sent to the sink. The
 * stream fails ({@code FAILED}, with a message saying why) on an HTTP error status, a chunk that is
 * not JSON, an {@code error} object from the server, or a response that ends without {@code data:
 * [DONE]}: a truncated answer is never reported as completed. When the stream is cancelled, the
 * response body is closed, which closes the connection and aborts the upstream request, so no more
 * tokens are generated or paid for.
 */
public final class OpenAiTokenSource {

  /* Implementation notes
   *
   * The request is sent with sendAsync so that a cancel hook can reach it at every stage: before the
   * response headers arrive, the hook cancels the future and closes any response that still arrives;
   * after them, it closes the body InputStream, which makes the blocked readLine() on the worker
   * throw. Either way the worker sees an IOException or InterruptedException while sink.isCancelled()
   * is true and returns quietly: the stream's status stays CANCELLED (or TIMED_OUT).
   *
   * SSE parsing is the minimum the wire format needs: "data:" lines accumulate, a blank line
   * dispatches, ":" comments and other fields are ignored. A final event without its blank line
   * still counts when the body ends.
   */

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int ERROR_BODY_LIMIT = 2048;

  private final HttpClient client;
  private final URI completionsUri;
  private final String model;
  private final @Nullable String apiKey;
  private final Duration timeout;

  /**
   * Creates a source factory.
   *
   * @param client the HTTP client to use (shared across streams)
   * @param baseUrl the API base, such as {@code https://api.openai.com/v1} or {@code
   *     http://localhost:11434/v1}; {@code /chat/completions} is appended
   * @param model the model name sent in each request
   * @param apiKey sent as {@code Authorization: Bearer}; null sends none (local servers)
   * @param timeout how long to wait for the response headers
   */
  public OpenAiTokenSource(
      HttpClient client, URI baseUrl, String model, @Nullable String apiKey, Duration timeout) {
    this.client = requireNonNull(client, "client");
    String base = baseUrl.toString();
    this.completionsUri =
        URI.create((base.endsWith("/") ? base.substring(0, base.length() - 1) : base) + "/chat/completions");
    this.model = requireNonNull(model, "model");
    this.apiKey = apiKey == null || apiKey.isBlank() ? null : apiKey;
    this.timeout = requireNonNull(timeout, "timeout");
  }

  /** The endpoint requests go to. */
  public URI completionsUri() {
    return completionsUri;
  }

  /** A source that streams the model's answer to {@code prompt}, as a single user message. */
  public TokenSource source(String prompt) {
    requireNonNull(prompt, "prompt");
    return sink -> stream(sink, requestBody(prompt));
  }

  private String requestBody(String prompt) {
    ObjectNode body = JSON.createObjectNode();
    body.put("model", model);
    body.put("stream", true);
    ObjectNode message = body.putArray("messages").addObject();
    message.put("role", "user");
    message.put("content", prompt);
    return body.toString();
  }

  private void stream(TokenSink sink, String body) throws Exception {
    HttpRequest.Builder request =
        HttpRequest.newBuilder(completionsUri)
            .timeout(timeout)
            .header("Content-Type", "application/json")
            .header("Accept", "text/event-stream")
            .POST(HttpRequest.BodyPublishers.ofString(body, UTF_8));
    if (apiKey != null) {
      request.header("Authorization", "Bearer " + apiKey);
    }
    CompletableFuture<HttpResponse<InputStream>> pending =
        client.sendAsync(request.build(), HttpResponse.BodyHandlers.ofInputStream());
    sink.onCancel(
        () -> {
          pending.cancel(true);
          // A response that arrives after the cancel is closed at once, whichever thread gets it.
          pending.thenAccept(r -> closeQuietly(r.body()));
        });

    HttpResponse<InputStream> response;
    try {
      response = pending.get();
    } catch (ExecutionException e) {
      if (sink.isCancelled()) {
        return;
      }
      Throwable cause = e.getCause() == null ? e : e.getCause();
      throw new IOException("request to " + completionsUri + " failed: " + cause, cause);
    } catch (InterruptedException | java.util.concurrent.CancellationException e) {
      if (sink.isCancelled()) {
        return;
      }
      throw e;
    }

    try (InputStream in = response.body()) {
      sink.onCancel(() -> closeQuietly(in));
      if (response.statusCode() != 200) {
        throw new IOException(
            "upstream " + completionsUri + " returned HTTP " + response.statusCode() + ": " + excerpt(in));
      }
      readEvents(sink, in);
    } catch (IOException e) {
      if (sink.isCancelled()) {
        return; // we closed it: the stream was cancelled or timed out
      }
      throw e;
    }
  }

  private static void readEvents(TokenSink sink, InputStream in) throws IOException {
    BufferedReader lines = new BufferedReader(new InputStreamReader(in, UTF_8));
    StringBuilder data = new StringBuilder();
    boolean hasData = false;
    long chunks = 0;
    for (String line = lines.readLine(); ; line = lines.readLine()) {
      if (line == null || line.isEmpty()) {
        if (hasData) {
          chunks++;
          if (dispatch(sink, data.toString(), chunks)) {
            return; // [DONE]
          }
          data.setLength(0);
          hasData = false;
        }
        if (line == null) {
          if (sink.isCancelled()) {
            return;
          }
          throw new IOException(
              "upstream stream ended without data: [DONE] after " + chunks + " chunks: answer truncated");
        }
      } else if (line.startsWith("data:")) {
        String value = line.substring(5);
        if (value.startsWith(" ")) {
          value = value.substring(1);
        }
        if (hasData) {
          data.append('\n');
        }
        data.append(value);
        hasData = true;
      }
      // ":" comments and event:, id:, retry: fields carry nothing a chat completion needs.
    }
  }

  /** Handles one event's data; returns true at {@code [DONE]}. */
  private static boolean dispatch(TokenSink sink, String data, long chunk) throws IOException {
    if (data.equals("[DONE]")) {
      return true;
    }
    JsonNode node;
    try {
      node = JSON.readTree(data);
    } catch (JsonProcessingException e) {
      throw new IOException("malformed chunk " + chunk + " from upstream: " + shorten(data), e);
    }
    if (node == null || !node.isObject()) {
      throw new IOException("malformed chunk " + chunk + " from upstream (not an object): " + shorten(data));
    }
    JsonNode error = node.get("error");
    if (error != null && !error.isNull()) {
      JsonNode message = error.get("message");
      throw new IOException(
          "upstream error: " + (message != null ? message.asText() : shorten(error.toString())));
    }
    JsonNode choices = node.get("choices");
    if (choices == null || choices.isNull()) {
      return false; // e.g. a usage-only chunk
    }
    if (!choices.isArray()) {
      throw new IOException("malformed chunk " + chunk + " from upstream (choices): " + shorten(data));
    }
    if (choices.isEmpty()) {
      return false;
    }
    JsonNode content = choices.get(0).path("delta").path("content");
    if (content.isTextual()) {
      if (!content.asText().isEmpty()) {
        sink.send(content.asText());
      }
    } else if (!content.isMissingNode() && !content.isNull()) {
      throw new IOException("malformed chunk " + chunk + " from upstream (content): " + shorten(data));
    }
    return false;
  }

  private static String excerpt(InputStream in) {
    try {
      byte[] bytes = in.readNBytes(ERROR_BODY_LIMIT);
      return shorten(new String(bytes, UTF_8).strip());
    } catch (IOException e) {
      return "(body unreadable: " + e + ")";
    }
  }

  private static String shorten(String s) {
    return s.length() <= 200 ? s : s.substring(0, 200) + "…";
  }

  private static void closeQuietly(InputStream in) {
    try {
      in.close();
    } catch (IOException ignored) {
      // closing to abort; nothing more to do
    }
  }

  @Override
  public String toString() {
    return "OpenAI-compatible source (" + model + " at " + completionsUri + ")";
  }
}
