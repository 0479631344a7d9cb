package dev.sluice.testkit;

import dev.sluice.TokenSink;
import dev.sluice.TokenSource;
import java.io.IOException;

/** A well-behaved adapter for {@link FakeProvider}: the shape every adapter should have. */
final class FakeProviderSource implements TokenSource {

  private final FakeProvider provider;
  private final String prompt;
  private final int tokens;

  FakeProviderSource(FakeProvider provider, String prompt, int tokens) {
    this.provider = provider;
    this.prompt = prompt;
    this.tokens = tokens;
  }

  // readme-adapter-start
  @Override
  public void run(TokenSink sink) throws IOException, InterruptedException {
    try (FakeProvider.Response response = provider.stream(prompt, tokens)) {
      sink.onCancel(response::close); // cancel closes the HTTP stream: generation and billing stop
      for (String token; (token = response.read()) != null; ) {
        sink.send(token); // throws StreamCancelledException once cancelled: let it propagate
      }
    } // IOException (a failure, or the closed response) and InterruptedException propagate too
  }
  // readme-adapter-end
}
