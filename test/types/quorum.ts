/**
 * Type-level checks of `quorum` and `scope`, compiled by `tsc --noEmit` (`npm run typecheck`) and
 * never run: a quorum is a number of processes or `{ processes?, fraction? }`, nothing else; a
 * rejection, a breaker, an event and a call listener say their scope as `"fleet" | "process"`.
 */
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  RedisStorage,
  type CallListener,
  type CircuitHook,
  type CircuitScope,
  type QuorumOption,
} from "../../src/index.js";

/** `true` only when `A` and `B` are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <A, B>(check: Equal<A, B>): Equal<A, B> => check;

const factory = new AsyncCircuitBreakerFactory({
  defaultQuorum: { processes: 2, fraction: 0.25 },
  storage: new RedisStorage({ processName: "web-7:4242", callerHorizon: 60 }),
});
same<CircuitScope, "fleet" | "process">(true);

export async function quorums(): Promise<void> {
  await factory.getBreaker("a", { quorum: 2 });
  await factory.getBreaker("b", { quorum: { fraction: 0.3 } });
  await factory.reconfigure("b", { quorum: null });
  // @ts-expect-error a quorum is not a string
  await factory.getBreaker("c", { quorum: "2" });
  // @ts-expect-error nor an object with other keys
  await factory.getBreaker("d", { quorum: { process: 2 } });
  const option: QuorumOption = 3;
  await factory.run("e", () => 1, { quorum: option });
}

export async function scopes(): Promise<void> {
  const breaker = await factory.getBreaker("a");
  same<typeof breaker.scope, CircuitScope>(true);
  const error = await breaker.run(() => 1).catch((e: unknown) => e);
  if (error instanceof CircuitOpenError) same<typeof error.scope, CircuitScope>(true);
  const hook: CircuitHook = (_name, eventType, event) => {
    if (eventType === "state_changed" || eventType === "recovered") {
      const scope: CircuitScope = event.scope;
      return scope;
    }
    return undefined;
  };
  const listener: CallListener = (_name, _outcome, _ms, scope) => {
    const checked: CircuitScope = scope;
    return checked;
  };
  factory.addListener(hook);
  factory.addCallListener(listener);
  same<ReturnType<typeof factory.circuitScopes>, Map<string, CircuitScope>>(true);
}
