/**
 * Child process of the timers section: `timers-child.ts <library> <circuits>`. Creates `circuits`
 * named circuits, runs calls through every path (success, failures that open, rejections, and for
 * purgatory half-open probes that close or re-open, idle forgetting, one-liners, decorators), and
 * counts the timers created and left live. Then closes everything and ends on its own: the parent
 * checks that the process exits by itself.
 * @module
 */
import { ConsecutiveBreaker, circuitBreaker, handleAll } from "cockatiel";
import CircuitBreaker from "opossum";
import { sendResult } from "./child.js";
import { loadPurgatory } from "./purgatory.js";
import { activeTimeouts, installTimerCounter } from "./timer-count.js";

export interface TimersResult {
  readonly library: string;
  readonly circuits: number;
  readonly calls: number;
  /** Timers created while circuits were created and called. */
  readonly created: number;
  /** Timers live (ref'd or not) after the calls, and after close / shutdown. */
  readonly liveAfterCalls: number;
  readonly liveAfterClose: number;
  /** Change in ref'd `Timeout` handles (what keeps a process alive) after close. */
  readonly activeAfterClose: number;
}

const counter = installTimerCounter();
const TRIPPED = 1000; // circuits driven through failures, rejections and probes
const ok = (): number => 42;
const okAsync = async (): Promise<number> => 42;
const boom = (): never => {
  throw new Error("boom");
};
const boomAsync = async (): Promise<never> => {
  throw new Error("boom");
};
const settle = async (call: () => unknown): Promise<void> => {
  try {
    await call();
  } catch {
    // failures and rejections are the point
  }
};

/** Throws unless every state is `expected`: the calls went down the paths they were meant to. */
function expect(what: string, states: readonly string[], expected: string): void {
  if (states.some((s) => s !== expected)) throw new Error(`${what}: ${states.join(", ")}, expected ${expected}`);
}

async function purgatory(n: number): Promise<Omit<TimersResult, "library" | "circuits">> {
  const { AsyncCircuitBreakerFactory, SyncCircuitBreakerFactory } = await loadPurgatory();
  let now = Date.now();
  const options = { defaultThreshold: 3, defaultTtl: 1, idleTtl: 60, clock: () => now };
  const sync = new SyncCircuitBreakerFactory(options);
  const factory = new AsyncCircuitBreakerFactory(options);
  sync.addListener(() => undefined);
  factory.addListener(() => undefined);
  let calls = 0;
  for (let i = 0; i < n; i++) {
    sync.getBreaker(`host-${i}`).run(ok);
    await (await factory.getBreaker(`host-${i}`)).run(okAsync);
    calls += 2;
  }
  for (let i = 0; i < TRIPPED; i++) {
    const s = sync.getBreaker(`host-${i}`);
    const a = await factory.getBreaker(`host-${i}`);
    for (let f = 0; f < 3; f++) {
      await settle(() => s.run(boom));
      await settle(() => a.run(boomAsync));
    }
    await settle(() => s.run(ok)); // rejected
    await settle(() => a.run(okAsync)); // rejected
    calls += 8;
    expect(`host-${i} after failures`, [s.state, a.state], "opened");
  }
  now += 1500; // past the ttl: the next calls are probes
  for (let i = 0; i < TRIPPED; i++) {
    const probe = i % 2 === 0;
    await settle(() => sync.getBreaker(`host-${i}`).run(probe ? ok : boom));
    await settle(async () => (await factory.getBreaker(`host-${i}`)).run(probe ? okAsync : boomAsync));
    calls += 2;
    const states = [sync.getBreaker(`host-${i}`).state, (await factory.getBreaker(`host-${i}`)).state];
    expect(`host-${i} after its probe`, states, probe ? "closed" : "opened");
  }
  await factory.run("one-liner", okAsync);
  sync.run("one-liner", ok);
  await factory.decorate((host: string) => host)(async (host: string) => host)("decorated");
  sync.decorate("decorated")(ok)();
  calls += 4;
  now += 200_000; // idle circuits are forgotten on the next registration, then re-registered
  const held = await factory.getBreaker("host-0");
  await factory.getBreaker("after-idle");
  await held.run(okAsync);
  calls += 1;
  const created = counter.created();
  const liveAfterCalls = counter.live();
  await sync.close();
  await factory.close();
  return { calls, created, liveAfterCalls, liveAfterClose: counter.live(), activeAfterClose: activeTimeouts() };
}

async function cockatiel(n: number): Promise<Omit<TimersResult, "library" | "circuits">> {
  const policies = new Map<string, ReturnType<typeof circuitBreaker>>();
  let calls = 0;
  for (let i = 0; i < n; i++) {
    const policy = circuitBreaker(handleAll, { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) });
    policies.set(`host-${i}`, policy);
    await policy.execute(okAsync);
    calls++;
  }
  for (let i = 0; i < Math.min(n, TRIPPED); i++) {
    const policy = policies.get(`host-${i}`);
    for (let f = 0; f < 4; f++) await settle(() => policy?.execute(boomAsync));
    calls += 4;
  }
  const created = counter.created();
  const liveAfterCalls = counter.live();
  return { calls, created, liveAfterCalls, liveAfterClose: counter.live(), activeAfterClose: activeTimeouts() };
}

async function opossum(n: number): Promise<Omit<TimersResult, "library" | "circuits">> {
  const breakers = new Map<string, CircuitBreaker>();
  let calls = 0;
  for (let i = 0; i < n; i++) {
    const breaker = new CircuitBreaker((fail: boolean) => (fail ? boomAsync() : okAsync())); // its defaults
    breakers.set(`host-${i}`, breaker);
    await breaker.fire(false);
    calls++;
  }
  for (let i = 0; i < Math.min(n, TRIPPED); i++) {
    const breaker = breakers.get(`host-${i}`);
    for (let f = 0; f < 4; f++) await settle(() => breaker?.fire(true));
    calls += 4;
  }
  const created = counter.created();
  const liveAfterCalls = counter.live();
  for (const breaker of breakers.values()) breaker.shutdown();
  return { calls, created, liveAfterCalls, liveAfterClose: counter.live(), activeAfterClose: activeTimeouts() };
}

const RUN = { purgatory, cockatiel, opossum };

const [library = "", circuitsArg = "100000"] = process.argv.slice(2);
if (!(library in RUN)) throw new Error(`unknown library ${library}; one of ${Object.keys(RUN).join(", ")}`);
const circuits = Number(circuitsArg);
const active0 = activeTimeouts();
const figures = await RUN[library as keyof typeof RUN](circuits);
const result: TimersResult = { library, circuits, ...figures, activeAfterClose: figures.activeAfterClose - active0 };
sendResult(result);
