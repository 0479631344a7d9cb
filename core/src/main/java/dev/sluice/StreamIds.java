package dev.sluice;

import java.security.SecureRandom;
import java.util.Base64;

/** Stream ids: 128 bits from {@link SecureRandom}, as 22 URL-safe base64 characters. */
final class StreamIds {

  static final int LENGTH = 22;

  private final SecureRandom random = new SecureRandom();
  private final Base64.Encoder encoder = Base64.getUrlEncoder().withoutPadding();

  String next() {
    byte[] bytes = new byte[16];
    random.nextBytes(bytes);
    return encoder.encodeToString(bytes);
  }

  /** Checks that {@code id} could have come from {@link #next()}: never trusts client input. */
  static String requireWellFormed(String id) {
    if (id == null) {
      throw new NullPointerException("id");
    }
    if (id.length() != LENGTH) {
      throw new IllegalArgumentException(
          "id must be " + LENGTH + " URL-safe base64 characters, got \"" + abbreviate(id) + "\"");
    }
    for (int i = 0; i < LENGTH; i++) {
      char c = id.charAt(i);
      boolean ok =
          (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
              || c == '_';
      if (!ok) {
        throw new IllegalArgumentException(
            "id must be " + LENGTH + " URL-safe base64 characters, got \"" + abbreviate(id) + "\"");
      }
    }
    // The last character carries 2 padding bits, which the encoder always leaves zero.
    if ("AQgw".indexOf(id.charAt(LENGTH - 1)) < 0) {
      throw new IllegalArgumentException("id is not a stream id: \"" + id + "\"");
    }
    return id;
  }

  private static String abbreviate(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "...(" + s.length() + " chars)";
  }
}
