package dev.sluice.proofs;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.stream.Stream;
import kotlinx.serialization.json.Json;
import org.pastalab.fray.core.TestRunner;
import org.pastalab.fray.core.command.Configuration;
import org.pastalab.fray.core.command.ExecutionInfo;
import org.pastalab.fray.core.command.LambdaExecutor;
import org.pastalab.fray.core.command.NetworkDelegateType;
import org.pastalab.fray.core.command.SystemTimeDelegateType;
import org.pastalab.fray.core.observers.TimelineCoverageType;
import org.pastalab.fray.core.randomness.ControlledRandomProvider;
import org.pastalab.fray.core.randomness.Randomness;
import org.pastalab.fray.core.scheduler.POSScheduler;
import org.pastalab.fray.core.scheduler.Scheduler;

/**
 * Runs one scenario under Fray: each iteration runs {@code scenario} from scratch with Fray choosing
 * the interleaving of every thread it starts (POS scheduler: random priorities re-drawn at each
 * racing step), and fails on the first iteration whose assertions fail, that throws, or that
 * deadlocks (every thread blocked: somebody waits forever).
 *
 * <p>Scheduling points are every synchronization operation (locks, park/unpark, CAS and other
 * atomic operations, thread start/join) and, with {@code -Dproofs.fray.memory=true} (the default),
 * every volatile read and write too, so Dekker pairs of plain volatile accesses are interleaved.
 *
 * <p>Budgets: {@code -Dproofs.fray.scale=N} multiplies every scenario's iteration count ({@code
 * -Pexplore} sets it to 20). A failing scenario's recording is copied to {@code
 * target/fray/recordings/<test name>}; {@code -Dproofs.fray.replay=DIR} replays it once instead of
 * exploring (run it with {@code -Dtest=Class#method}).
 */
final class Explore {

  private Explore() {}

  static void explore(String name, int iterations, Runnable scenario) {
    String replay = System.getProperty("proofs.fray.replay", "");
    boolean memory = Boolean.parseBoolean(System.getProperty("proofs.fray.memory", "true"));
    int scale = Integer.getInteger("proofs.fray.scale", 1);
    Path report = Paths.get(System.getProperty("fray.workDir", "target/fray/fray-report"));
    Scheduler scheduler;
    int n;
    if (!replay.isEmpty()) {
      try {
        String cls = Files.readString(Paths.get(replay, "scheduler")).trim();
        Randomness recorded =
            Json.Default.decodeFromString(
                Randomness.Companion.serializer(), Files.readString(Paths.get(replay, "random.json")));
        scheduler = (Scheduler) Class.forName(cls).getConstructor(Randomness.class).newInstance(recorded);
      } catch (Exception e) {
        throw new IllegalStateException("cannot read the recording in " + replay, e);
      }
      n = 1;
    } else {
      scheduler = new POSScheduler();
      n = iterations * scale;
    }
    Configuration config =
        new Configuration(
            new ExecutionInfo(
                new LambdaExecutor(() -> {
                  scenario.run();
                  return kotlin.Unit.INSTANCE;
                }),
                false, // ignoreUnhandledExceptions: an exception in any thread fails the iteration
                memory, // interleaveMemoryOps
                -1),
            report,
            n,
            Integer.getInteger("proofs.fray.timeoutSeconds", 120) * scale,
            scheduler,
            new ControlledRandomProvider(),
            false, // fullSchedule
            false, // exploreMode
            true, // noExitWhenBugFound
            !replay.isEmpty(), // isReplay
            false, // noFray
            false, // dummyRun
            NetworkDelegateType.NONE,
            SystemTimeDelegateType.NONE,
            100_000L,
            true, // ignoreTimedBlock
            false, // sleepAsYield
            false, // resetClassLoader: each scenario builds its own objects
            false, // redirectStdout
            false, // abortThreadExecutionAfterMainExit: every thread must finish
            false,
            TimelineCoverageType.RESOURCE_ORDERING);
    long t0 = System.nanoTime();
    Throwable failure = null;
    try {
      failure = new TestRunner(config).run();
    } finally {
      System.out.printf(
          "[proofs] %s: %s %d schedules (memory ops %s), %.1f s%s%n",
          name,
          replay.isEmpty() ? "explored up to" : "replayed",
          n,
          memory ? "on" : "off",
          (System.nanoTime() - t0) / 1e9,
          failure == null ? "" : ", FAILED");
    }
    if (failure != null) {
      if (replay.isEmpty()) {
        keepRecording(report, name);
      }
      if (failure instanceof RuntimeException re) {
        throw re;
      }
      if (failure instanceof Error err) {
        throw err;
      }
      throw new AssertionError(failure);
    }
  }

  /** Copies Fray's recording of the failing schedule where the next failure cannot overwrite it. */
  private static void keepRecording(Path report, String name) {
    Path from = report.resolve("recording");
    Path to = report.resolveSibling("recordings").resolve(name.replaceAll("[^A-Za-z0-9._-]+", "-"));
    try {
      Files.createDirectories(to);
      try (Stream<Path> files = Files.list(from)) {
        for (Path f : (Iterable<Path>) files::iterator) {
          Files.copy(f, to.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
        }
      }
      System.out.printf("[proofs] %s: replay with -Dproofs.fray.replay=%s%n", name, to.toAbsolutePath());
    } catch (java.io.IOException e) {
      System.out.printf("[proofs] %s: could not keep the recording: %s%n", name, e);
    }
  }
}
