/**
 * Decorators: `circuitbreaker.decorate(name)` is a higher-order function, a class-method decorator
 * (standard TC39 decorators, as here, or legacy `experimentalDecorators`), and its name may be
 * computed from the call's arguments.
 *
 *   npx tsx examples/decorators.ts
 */
import { AsyncCircuitBreakerFactory, CircuitOpenError } from "../src/index.js";

const circuitbreaker = new AsyncCircuitBreakerFactory({ defaultThreshold: 2, defaultTtl: 30 });
circuitbreaker.addListener((name, eventType, event) => {
  if (eventType === "state_changed") console.log(`  [hook] ${name} -> ${event.state}`);
});

// 1. Higher-order function: wrap any function; the wrapper returns a promise.
const getUser = circuitbreaker.decorate("users-api")(async (id: number) => ({ id, name: `user ${id}` }));
console.log("HOF:", await getUser(7));

// 2. Class-method decorator: `this`, arguments and the method's name are kept.
class InventoryClient {
  calls = 0;

  @circuitbreaker.decorate("inventory-api")
  async stock(sku: string): Promise<number> {
    this.calls += 1;
    if (sku === "broken") throw new Error("inventory backend error");
    return 3;
  }
}
const inventory = new InventoryClient();
console.log("method:", await inventory.stock("sku-1"), "calls:", inventory.calls, "name:", inventory.stock.name);

// 3. A computed name: one circuit per host, from the URL argument.
const fakeFetch = circuitbreaker.decorate((url: string) => new URL(url).host)(async (url: string) => {
  if (url.includes("down.example")) throw new Error(`connection refused: ${url}`);
  return `<html>${url}</html>`;
});
await fakeFetch("https://up.example/a");
for (let i = 0; i < 3; i++) {
  try {
    await fakeFetch("https://down.example/a");
  } catch (error) {
    const kind = error instanceof CircuitOpenError ? "rejected fast" : "failed";
    console.log(`down.example call ${i + 1}: ${kind}`);
  }
}
console.log("up.example still answers:", await fakeFetch("https://up.example/b"));
console.log("circuits:", circuitbreaker.circuitNames().join(", "));

await circuitbreaker.close();
