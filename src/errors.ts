/**
 * The errors Purgatory throws. Each has a stable `name` and `code`; messages name the circuit, the
 * option and the value.
 * @module
 */

/**
 * Thrown (or rejected with) instead of running the guarded code when a circuit is opened, or when
 * it is half-opened and every probe slot is taken.
 *
 * It carries no stack frames: it is built on every rejected call, and where it was thrown is told
 * by `circuitName`, not by a stack. That keeps fail-fast calls cheap.
 *
 * @example
 * ```ts
 * try {
 *   await breaker.run(() => fetch(url));
 * } catch (err) {
 *   if (err instanceof CircuitOpenError) setTimeout(retry, err.retryAfterMs);
 * }
 * ```
 */
export class CircuitOpenError extends Error {
  /** Stable error code. */
  readonly code = "PURGATORY_CIRCUIT_OPEN";
  /** The circuit that rejected the call. */
  readonly circuitName: string;
  /** When the circuit opened, epoch ms. */
  readonly openedAt: number;
  /** Milliseconds until a call may run as a probe. */
  readonly retryAfterMs: number;

  /** Builds the error for circuit `circuitName`. */
  constructor(circuitName: string, openedAt: number, retryAfterMs: number) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`Circuit ${circuitName} is open`);
    Error.stackTraceLimit = limit;
    this.circuitName = circuitName;
    this.openedAt = openedAt;
    this.retryAfterMs = retryAfterMs;
  }
}
Object.defineProperty(CircuitOpenError.prototype, "name", {
  value: "CircuitOpenError",
  enumerable: false,
});

/**
 * Thrown at once for bad input: a bad option, argument or circuit name. `option` names what was
 * wrong and `value` holds what was passed.
 *
 * @example
 * ```ts
 * new AsyncCircuitBreakerFactory({ defaultThreshold: 0 });
 * // InvalidOptionError: Invalid option "defaultThreshold": expected an integer >= 1, got 0
 * ```
 */
export class InvalidOptionError extends TypeError {
  /** Stable error code. */
  readonly code = "PURGATORY_INVALID_OPTION";
  /** The option or argument that was wrong. */
  readonly option: string;
  /** The value that was passed. */
  readonly value: unknown;

  /** Builds the error: `expected` says what would have been accepted. */
  constructor(option: string, value: unknown, expected: string) {
    super(`Invalid option "${option}": expected ${expected}, got ${describeValue(value)}`);
    this.option = option;
    this.value = value;
  }
}
Object.defineProperty(InvalidOptionError.prototype, "name", {
  value: "InvalidOptionError",
  enumerable: false,
});

function isThenable(value: object): boolean {
  try {
    return typeof (value as { then?: unknown }).then === "function";
  } catch {
    return false;
  }
}

/**
 * A short, safe rendering of any value for an error message; never throws.
 *
 * @example
 * ```ts
 * describeValue("x"); // '"x"'
 * ```
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
    case "function":
      return value.name ? `function ${value.name}` : "an anonymous function";
    case "bigint":
      return `${value}n`;
    case "symbol":
      return value.toString();
    case "object":
      if (value === null) return "null";
      if (Array.isArray(value)) return `an array of length ${value.length}`;
      if (isThenable(value)) return "a promise";
      return `an object (${Object.prototype.toString.call(value)})`;
    default:
      return String(value);
  }
}
