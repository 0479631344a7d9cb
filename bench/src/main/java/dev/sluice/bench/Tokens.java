package dev.sluice.bench;

/** The pre-made token strings every contender sends: no allocation per token on the producer side. */
public final class Tokens {

  /** Buffer size shared by every contender. */
  public static final int BUFFER = 64;

  private static final int MASK = 1023;
  private static final String[] TOKENS = new String[MASK + 1];

  static {
    String[] words = {"the", " model", " says", ",", " hello", " world", ".", "\n", " token", "s"};
    for (int i = 0; i < TOKENS.length; i++) {
      TOKENS[i] = words[i % words.length] + (i % 7 == 0 ? "" : Integer.toString(i % 10));
    }
  }

  private Tokens() {}

  /** The i-th token (cyclic). */
  public static String get(int i) {
    return TOKENS[i & MASK];
  }
}
