package dev.sluice;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.LoggerFactory;

/**
 * Captures what the library logs (package {@code dev.sluice}, DEBUG and up) while open, so that a
 * test can assert that a fault left a log line. Close it to restore the configuration.
 */
final class LogCapture implements AutoCloseable {

  private final Logger logger = (Logger) LoggerFactory.getLogger("dev.sluice");
  private final Level oldLevel = logger.getLevel();
  private final boolean oldAdditive = logger.isAdditive();
  private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

  LogCapture() {
    appender.start();
    logger.addAppender(appender);
    logger.setLevel(Level.DEBUG);
    logger.setAdditive(false); // captured, not printed: the console keeps the WARN threshold
  }

  /** Lines logged so far, as "LEVEL message", for streams whose id is in the message or the MDC. */
  List<String> lines() {
    List<String> out = new ArrayList<>();
    synchronized (appender) { // AppenderBase.doAppend holds this lock
      for (ILoggingEvent e : appender.list) {
        out.add(e.getLevel() + " " + e.getFormattedMessage());
      }
    }
    return out;
  }

  /** Lines that mention {@code id}. */
  List<String> about(String id) {
    List<String> out = new ArrayList<>();
    for (String line : lines()) {
      if (line.contains(id)) {
        out.add(line);
      }
    }
    return out;
  }

  @Override
  public void close() {
    logger.detachAppender(appender);
    logger.setLevel(oldLevel);
    logger.setAdditive(oldAdditive);
    appender.stop();
  }
}
