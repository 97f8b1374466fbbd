/**
 * The synchronous twin: `SyncCircuitBreakerFactory` guards synchronous code (parsing, a native
 * binding, a synchronous cache) and returns or throws exactly as the guarded code does.
 *
 *   npx tsx examples/sync.ts
 */
import { CircuitOpenError, SyncCircuitBreakerFactory } from "../src/index.js";

const sync = new SyncCircuitBreakerFactory({
  defaultThreshold: 3,
  defaultTtl: 10,
  // A SyntaxError is bad input, not a broken parser: excluded, re-thrown, never counted.
  exclude: [SyntaxError],
});

const parser = sync.getBreaker("parser");
console.log(
  "parsed:",
  parser.run(() => JSON.parse('{"ok":true}') as unknown),
);

try {
  parser.run(() => JSON.parse("{not json") as unknown);
} catch (error) {
  console.log(`excluded ${(error as Error).name}; failureCount=${parser.failureCount}`);
}

// A component that keeps failing opens the circuit.
const broken = (): never => {
  throw new Error("native codec crashed");
};
for (let i = 1; i <= 4; i++) {
  try {
    sync.run("codec", broken);
  } catch (error) {
    console.log(
      error instanceof CircuitOpenError
        ? `codec call ${i}: rejected fast, retryAfterMs=${error.retryAfterMs}`
        : `codec call ${i}: failed`,
    );
  }
}
console.log("codec state:", sync.getBreaker("codec").state);

// The decorator works the same way, synchronously.
const double = sync.decorate("math")((n: number) => n * 2);
console.log("decorated:", double(21));

await sync.close();
