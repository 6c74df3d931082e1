/**
 * The few assertions the tests use, on top of node:assert (JSR's std/assert
 * is not reachable from these machines).
 * @module
 */
import nodeAssert from "node:assert";

/** Asserts a truthy condition. */
export function assert(condition: unknown, message?: string): asserts condition {
  nodeAssert.ok(condition, message);
}

/** Deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Asserts that text contains part. */
export function assertIncludes(text: string, part: string, message?: string): void {
  nodeAssert.ok(
    text.includes(part),
    message ?? `expected ${JSON.stringify(text)} to include ${JSON.stringify(part)}`,
  );
}

/** Asserts that fn rejects, optionally with an instance of cls; returns the error. */
export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  cls?: new (...args: any[]) => E,
  message?: string,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    if (cls && !(err instanceof cls)) {
      throw new nodeAssert.AssertionError({
        message: `expected ${cls.name}, got ${
          err instanceof Error ? `${err.name}: ${err.message}` : err
        }`,
      });
    }
    return err as E;
  }
  throw new nodeAssert.AssertionError({ message: message ?? "expected the promise to reject" });
}

/** Asserts that fn throws, optionally an instance of cls; returns the error. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  cls?: new (...args: any[]) => E,
): E {
  try {
    fn();
  } catch (err) {
    if (cls && !(err instanceof cls)) {
      throw new nodeAssert.AssertionError({ message: `expected ${cls.name}, got ${err}` });
    }
    return err as E;
  }
  throw new nodeAssert.AssertionError({ message: "expected a throw" });
}
