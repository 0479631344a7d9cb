package dev.sluice.testkit;

import dev.sluice.TokenSource;
import java.time.Duration;

// readme-example-start
class FakeProviderSourceConformanceTest extends TokenSourceConformance {
  private final FakeProvider provider = new FakeProvider(Duration.ofMillis(20)); // your mock server

  @Override protected TokenSource newSource() { // 50 tokens, 20 ms apart: cancellable mid-stream
    return new FakeProviderSource(provider, "Tell me a story", 50);
  }
  @Override protected TokenSource newFailingSource() { // optional: an HTTP 500 after 3 tokens
    return new FakeProviderSource(provider.failingAfter(3), "Tell me a story", 50);
  }
}
// readme-example-end
