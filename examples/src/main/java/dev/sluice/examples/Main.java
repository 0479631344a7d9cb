package dev.sluice.examples;

import dev.sluice.DetachPolicy;
import dev.sluice.StreamManager;
import dev.sluice.TokenSource;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * The command line of {@code sluice-examples.jar}.
 *
 * <pre>
 * java -jar examples/target/sluice-examples.jar demo  [--clients 200] ...
 * java -jar examples/target/sluice-examples.jar serve [--port 8080] [--source fake|openai] ...
 * </pre>
 *
 * <p>Run with {@code --help} for every option.
 */
public final class Main {

  /** The API key accepted when none is configured: for local use only. */
  public static final String DEFAULT_KEY = "sluice-local-key";

  static final String USAGE =
      String.join(
          "\n",
          "usage: java -jar sluice-examples.jar <command> [options]",
          "",
          "commands:",
          "  demo    run N concurrent clients against a real server on loopback and print a report",
          "  serve   run the SSE chat server (open http://127.0.0.1:8080/ in a browser)",
          "",
          "serve options:",
          "  --host ADDR              address to bind (default 127.0.0.1)",
          "  --port N                 port (default 8080; 0 picks a free one)",
          "  --keys K1,K2             accepted API keys (default: $SLUICE_API_KEYS, else " + DEFAULT_KEY + ")",
          "  --source fake|openai     token source (default fake)",
          "  --detach cancel|keep-running",
          "                           what a client disconnect does (default cancel; keep-running lets",
          "                           clients resume with Last-Event-ID within --resume-grace)",
          "  --resume-grace DUR       keep-running: how long a stream waits for a reader (default 30s)",
          "  --retention DUR          how long an ended stream stays readable (default 30s)",
          "  --max-running N          streams producing at once (default 64)",
          "  --queue N                streams waiting for a slot (default 256)",
          "  --deadline DUR           longest life of one stream (default 5m)",
          "fake source options (also for demo):",
          "  --pace N                 tokens per second (default 20; demo 40)",
          "  --first-token-delay DUR  wait before the first token (default 500ms; demo 200ms)",
          "  --tokens N               tokens per answer (default 60; demo 60)",
          "openai source options:",
          "  --openai-base-url URL    default $OPENAI_BASE_URL, else http://127.0.0.1:11434/v1 (Ollama)",
          "  --openai-model NAME      default $OPENAI_MODEL, else llama3.2",
          "                           the key is read from $OPENAI_API_KEY (none sent if unset)",
          "demo options:",
          "  --clients N              concurrent clients (default 200)",
          "  --seed N                 seed for the client mix (default 42)",
          "",
          "durations: 500ms, 2s, 5m, or ISO-8601 (PT2S)");

  private Main() {}

  /** Runs a command; exits with 0 on success, 1 when the demo finds a violation, 2 on bad usage. */
  public static void main(String[] args) throws Exception {
    int status = run(args, System.out, System.err);
    if (status != KEEP_RUNNING) {
      System.exit(status);
    }
  }

  /** Returned by {@link #run} when a server was started and the JVM must keep running. */
  static final int KEEP_RUNNING = Integer.MIN_VALUE;

  static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
    if (args.length == 0 || args[0].equals("--help") || args[0].equals("-h") || args[0].equals("help")) {
      out.println(USAGE);
      return args.length == 0 ? 2 : 0;
    }
    Map<String, String> flags;
    try {
      flags = parseFlags(Arrays.asList(args).subList(1, args.length));
      if (flags.containsKey("help")) {
        out.println(USAGE);
        return 0;
      }
      switch (args[0]) {
        case "serve":
          return serve(flags, out);
        case "demo":
          return Demo.run(Demo.Config.from(flags), out);
        default:
          throw new IllegalArgumentException("unknown command: " + args[0]);
      }
    } catch (IllegalArgumentException e) {
      err.println("error: " + e.getMessage());
      err.println();
      err.println(USAGE);
      return 2;
    }
  }

  private static int serve(Map<String, String> flags, PrintStream out) throws IOException {
    checkKnown(
        flags,
        "host", "port", "keys", "source", "detach", "resume-grace", "retention", "max-running", "queue",
        "deadline", "pace", "first-token-delay", "tokens", "openai-base-url", "openai-model");
    String host = flags.getOrDefault("host", "127.0.0.1");
    int port = intFlag(flags, "port", 8080);
    Set<String> keys = keys(flags.get("keys"), System.getenv("SLUICE_API_KEYS"));
    DetachPolicy detach = detachPolicy(flags.getOrDefault("detach", "cancel"));
    String sourceName = flags.getOrDefault("source", "fake");
    Function<String, TokenSource> sources;
    String described;
    switch (sourceName) {
      case "fake":
        FakeLlm llm = fakeLlm(flags, 20, Duration.ofMillis(500), 60);
        sources = llm::source;
        described = llm.toString();
        break;
      case "openai":
        String base = flags.getOrDefault("openai-base-url", envOr("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1"));
        String model = flags.getOrDefault("openai-model", envOr("OPENAI_MODEL", "llama3.2"));
        HttpClient client =
            HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10))
                .build();
        OpenAiTokenSource openai =
            new OpenAiTokenSource(client, URI.create(base), model, System.getenv("OPENAI_API_KEY"), Duration.ofSeconds(60));
        sources = openai::source;
        described = openai.toString();
        break;
      default:
        throw new IllegalArgumentException("--source must be fake or openai, got " + sourceName);
    }

    StreamManager manager =
        StreamManager.builder()
            .maxRunning(intFlag(flags, "max-running", 64))
            .queueCapacity(intFlag(flags, "queue", 256))
            .submitTimeout(Duration.ofMillis(200))
            .deadline(durationFlag(flags, "deadline", Duration.ofMinutes(5)))
            .noReaderTimeout(durationFlag(flags, "resume-grace", Duration.ofSeconds(30)))
            .retention(durationFlag(flags, "retention", Duration.ofSeconds(30)))
            .removeOnDelivery(false)
            .replayWindow(1024)
            .detachPolicy(detach)
            .build();
    ChatServer server;
    try {
      server = ChatServer.start(manager, sources, ChatServer.Options.loopback(port, keys, detach).withHost(host));
    } catch (IOException | RuntimeException e) {
      manager.close();
      throw e;
    }
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  out.println("shutting down: cancelling open streams…");
                  server.close();
                  out.println("stopped: " + server.manager().counters());
                },
                "chat-shutdown"));
    out.println("Sluice chat server on http://" + host + ":" + server.port() + "/");
    out.println("  source: " + described);
    out.println("  detach policy: " + detach.name().toLowerCase(Locale.ROOT).replace('_', '-'));
    if (keys.contains(DEFAULT_KEY)) {
      out.println("  API key: " + DEFAULT_KEY + " (the local default; set --keys or SLUICE_API_KEYS)");
      if (!host.equals("127.0.0.1") && !host.equals("localhost") && !host.equals("::1")) {
        out.println("  WARNING: listening on " + host + " with the well-known default key: set --keys");
      }
    } else {
      out.println("  API keys: " + keys.size() + " configured");
    }
    out.println("  try: curl -s -X POST -H 'X-API-Key: <key>' -d '{\"prompt\":\"hi\"}' http://"
        + host + ":" + server.port() + "/chat/submit");
    out.println("Ctrl-C stops it gracefully.");
    return KEEP_RUNNING; // the HTTP server's thread keeps the JVM alive
  }

  // ------------------------------------------------------------------ flags

  static Map<String, String> parseFlags(List<String> args) {
    Map<String, String> flags = new HashMap<>();
    for (int i = 0; i < args.size(); i++) {
      String arg = args.get(i);
      if (!arg.startsWith("--") || arg.length() == 2) {
        throw new IllegalArgumentException("expected --option, got \"" + arg + "\"");
      }
      String name = arg.substring(2);
      String value;
      int eq = name.indexOf('=');
      if (eq >= 0) {
        value = name.substring(eq + 1);
        name = name.substring(0, eq);
      } else if (name.equals("help")) {
        value = "";
      } else if (i + 1 < args.size()) {
        value = args.get(++i);
      } else {
        throw new IllegalArgumentException("--" + name + " needs a value");
      }
      if (flags.put(name, value) != null) {
        throw new IllegalArgumentException("--" + name + " given twice");
      }
    }
    return flags;
  }

  static void checkKnown(Map<String, String> flags, String... known) {
    Set<String> allowed = Set.of(known);
    for (String name : flags.keySet()) {
      if (!allowed.contains(name)) {
        throw new IllegalArgumentException("unknown option --" + name);
      }
    }
  }

  static FakeLlm fakeLlm(Map<String, String> flags, double pace, Duration delay, int tokens) {
    String p = flags.get("pace");
    double tokensPerSecond;
    try {
      tokensPerSecond = p == null ? pace : Double.parseDouble(p);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--pace must be a number of tokens per second, got \"" + p + "\"");
    }
    return new FakeLlm(
        tokensPerSecond, durationFlag(flags, "first-token-delay", delay), intFlag(flags, "tokens", tokens));
  }

  static int intFlag(Map<String, String> flags, String name, int defaultValue) {
    String v = flags.get(name);
    if (v == null) {
      return defaultValue;
    }
    try {
      return Integer.parseInt(v.strip());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--" + name + " must be an integer, got \"" + v + "\"");
    }
  }

  private static final Pattern SIMPLE_DURATION = Pattern.compile("(\\d+)(ms|s|m|h)");

  static Duration durationFlag(Map<String, String> flags, String name, Duration defaultValue) {
    String v = flags.get(name);
    if (v == null) {
      return defaultValue;
    }
    Matcher m = SIMPLE_DURATION.matcher(v.strip());
    if (m.matches()) {
      long n = Long.parseLong(m.group(1));
      switch (m.group(2)) {
        case "ms":
          return Duration.ofMillis(n);
        case "s":
          return Duration.ofSeconds(n);
        case "m":
          return Duration.ofMinutes(n);
        case "h":
          return Duration.ofHours(n);
        default:
          throw new IllegalStateException("unit " + m.group(2));
      }
    }
    try {
      return Duration.parse(v.strip());
    } catch (DateTimeParseException e) {
      throw new IllegalArgumentException("--" + name + " must be a duration such as 500ms, 2s or 5m, got \"" + v + "\"");
    }
  }

  static Set<String> keys(@Nullable String flag, @Nullable String env) {
    String raw = flag != null ? flag : env;
    Set<String> keys = new LinkedHashSet<>();
    if (raw != null) {
      for (String k : raw.split(",")) {
        if (!k.isBlank()) {
          keys.add(k.strip());
        }
      }
    }
    if (keys.isEmpty()) {
      keys.add(DEFAULT_KEY);
    }
    return keys;
  }

  static DetachPolicy detachPolicy(String value) {
    switch (value) {
      case "cancel":
        return DetachPolicy.CANCEL;
      case "keep-running":
        return DetachPolicy.KEEP_RUNNING;
      default:
        throw new IllegalArgumentException("--detach must be cancel or keep-running, got " + value);
    }
  }

  private static String envOr(String name, String defaultValue) {
    String v = System.getenv(name);
    return v == null || v.isBlank() ? defaultValue : v;
  }
}
