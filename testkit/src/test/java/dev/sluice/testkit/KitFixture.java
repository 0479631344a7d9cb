package dev.sluice.testkit;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Marks a conformance subclass that is expected to fail: it runs only when a test launches it
 * through {@link org.junit.platform.testkit.engine.EngineTestKit} with the configuration parameter
 * {@value #PARAMETER} set, and is skipped anywhere else (a plain {@code mvn verify}, an IDE, or
 * {@code -Dtest=...} patterns that override Surefire's default exclusion of nested classes). A JVM
 * system property of the same name also enables them, to read their messages by hand (see the
 * README).
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(KitFixture.Condition.class)
@interface KitFixture {

  /** The configuration parameter that enables fixtures. */
  String PARAMETER = "dev.sluice.testkit.fixtures";

  /** Enables the fixture only when {@link #PARAMETER} is {@code true}. */
  final class Condition implements ExecutionCondition {
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
      return context.getConfigurationParameter(PARAMETER).map(Boolean::parseBoolean).orElse(false)
          ? ConditionEvaluationResult.enabled("run through EngineTestKit")
          : ConditionEvaluationResult.disabled(
              "a fixture that is meant to fail; run only by its EngineTestKit test");
    }
  }
}
