/**
 * A serverless hand-over: a function instance keeps its circuits in memory; at the end of an
 * invocation it saves them (`factory.toJSON()`, plain JSON), and the next instance starts from
 * them (`new InMemoryStorage({ restore })`): a circuit opened by one invocation still rejects in
 * the next one until its ttl has elapsed, and failure counts go on where they were.
 *
 *   npx tsx examples/serverless-handover.ts
 */
import { AsyncCircuitBreakerFactory, CircuitOpenError, InMemoryStorage, type SavedCircuits } from "../src/index.js";

/** Where the state waits between invocations (a KV store, a file, a cache entry). */
const store = new Map<string, string>();

/** One invocation: a factory over what the previous one saved, saved again at the end. */
async function invocation(work: (factory: AsyncCircuitBreakerFactory) => Promise<void>): Promise<void> {
  const saved = store.get("circuits");
  const restore = saved === undefined ? undefined : (JSON.parse(saved) as SavedCircuits);
  const factory = new AsyncCircuitBreakerFactory({
    defaultThreshold: 2,
    defaultTtl: 60,
    storage: new InMemoryStorage(restore === undefined ? undefined : { restore }),
  });
  await work(factory);
  store.set("circuits", JSON.stringify(factory)); // JSON.stringify calls factory.toJSON()
  await factory.close();
}

const down = () => Promise.reject(new Error("503"));

// Invocation 1: payments fails twice (opens); inventory fails once.
await invocation(async (factory) => {
  for (let i = 0; i < 2; i++) await factory.run("payments", down).catch(() => undefined);
  await factory.run("inventory", down).catch(() => undefined);
});
const saved = JSON.parse(store.get("circuits") ?? "{}") as SavedCircuits;
console.log(`saved ${saved.circuits.length} circuits, ${store.get("circuits")?.length} bytes of JSON`);

// Invocation 2, a new instance: payments is still opened; inventory remembers its failure.
await invocation(async (factory) => {
  const rejected = await factory.run("payments", () => "charged").catch((e: unknown) => e);
  if (rejected instanceof CircuitOpenError) {
    console.log(`payments: still opened, rejected fast (retry in ~${Math.round(rejected.retryAfterMs / 1000)} s)`);
  }
  const inventory = await factory.getBreaker("inventory");
  console.log(`inventory: ${inventory.state}, failureCount=${inventory.failureCount}`);
  await inventory.run(down).catch(() => undefined);
  console.log(`inventory: ${inventory.state} after one more failure`);
});
