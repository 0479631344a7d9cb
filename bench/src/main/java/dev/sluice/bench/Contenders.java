package dev.sluice.bench;

import java.util.List;

/** Creates contenders by name. */
public final class Contenders {

  /** Every contender, Sluice first. */
  public static final List<String> ALL =
      List.of("sluice", "abq", "submission-publisher", "reactor", "spsc");

  private Contenders() {}

  /**
   * Creates a contender.
   *
   * @param name one of {@link #ALL}
   * @param maxStreams how many streams may be open at once (Sluice's maxRunning and queue)
   */
  public static Contender create(String name, int maxStreams) {
    switch (name) {
      case "sluice":
        return new SluiceContender(maxStreams);
      case "abq":
        return new AbqContender();
      case "submission-publisher":
        return new SubmissionPublisherContender();
      case "reactor":
        return new ReactorContender();
      case "spsc":
        return new SpscContender();
      default:
        throw new IllegalArgumentException("unknown contender " + name + "; known: " + ALL);
    }
  }
}
