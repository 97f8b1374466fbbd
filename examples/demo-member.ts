/**
 * The other process of the demo's second act (`examples/demo-fleet.ts` spawns it): a member of
 * the fleet with its own factory over the same Redis. It holds one circuit, says it is ready,
 * and waits to hear that another process opened it; then it makes a call, which is rejected fast
 * without touching the dependency, and exits. Every line it prints is JSON, for the demo to tell.
 *
 * Run by the demo as `node --import tsx examples/demo-member.ts <redis-url> <prefix> <circuit>`.
 */
import { AsyncCircuitBreakerFactory, CircuitOpenError, RedisStorage } from "../src/index.js";

const [url, prefix, circuit] = process.argv.slice(2);
if (url === undefined || prefix === undefined || circuit === undefined) {
  throw new Error("usage: demo-member.ts <redis-url> <prefix> <circuit>");
}
const say = (line: object): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};

const factory = new AsyncCircuitBreakerFactory({ storage: new RedisStorage({ url, prefix, keyTtl: 60 }) });
let opened: () => void = () => undefined;
const heardOpened = new Promise<void>((resolve) => (opened = resolve));
factory.addListener((name, eventType, event) => {
  if (eventType !== "state_changed") return;
  say({ type: "event", name, state: event.state, remote: event.remote === true });
  if (event.state === "opened" && event.remote === true) opened();
});

// The demo gives up on a member that heard nothing for 10 s; the member does too.
const patience = setTimeout(() => opened(), 10_000);
try {
  await factory.initialize();
  const breaker = await factory.getBreaker(circuit);
  say({ type: "ready", pid: process.pid, state: breaker.state });
  await heardOpened;
  try {
    await breaker.run(async () => "in stock");
    say({ type: "call", outcome: "ran" });
  } catch (error) {
    if (!(error instanceof CircuitOpenError)) throw error;
    say({ type: "call", outcome: "rejected", retryAfterMs: Math.round(error.retryAfterMs) });
  }
} finally {
  clearTimeout(patience);
  await factory.close();
}
