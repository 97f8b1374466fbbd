/**
 * Counts the timers a process creates (setTimeout, setInterval, setImmediate, also through
 * `node:timers` and `node:timers/promises`) and how many are still live, unref'd ones included
 * (`process.getActiveResourcesInfo()` lists only ref'd ones). Install before the code under test
 * creates timers.
 * @module
 */
import { syncBuiltinESMExports } from "node:module";
import timers from "node:timers";
import timersPromises from "node:timers/promises";

export interface TimerCounter {
  /** Timers created since install. */
  created(): number;
  /** Timers created since install that have neither fired (timeouts, immediates) nor been cleared. */
  live(): number;
}

type AnyFunction = (...args: unknown[]) => unknown;
type Handle = { _destroyed?: boolean };

export function installTimerCounter(): TimerCounter {
  let created = 0;
  const handles = new Set<Handle>();
  const wrap = (original: AnyFunction): AnyFunction =>
    function counted(this: unknown, ...args: unknown[]): unknown {
      created++;
      const handle = original.apply(this, args);
      if (typeof handle === "object" && handle !== null) handles.add(handle);
      return handle;
    };
  const globals = globalThis as unknown as Record<string, AnyFunction>;
  const timersModule = timers as unknown as Record<string, AnyFunction>;
  const promisesModule = timersPromises as unknown as Record<string, AnyFunction>;
  for (const name of ["setTimeout", "setInterval", "setImmediate"]) {
    const original = globals[name] as AnyFunction;
    const wrapped = wrap(original);
    globals[name] = wrapped;
    const fromModule = timersModule[name] as AnyFunction;
    timersModule[name] = fromModule === original ? wrapped : wrap(fromModule);
    promisesModule[name] = wrap(promisesModule[name] as AnyFunction);
  }
  syncBuiltinESMExports(); // `import { setTimeout } from "node:timers"` sees the wrappers too
  return {
    created: () => created,
    live: () => {
      let live = 0;
      for (const handle of handles) {
        if (handle._destroyed === true) handles.delete(handle);
        else live++;
      }
      return live;
    },
  };
}

/** Ref'd `Timeout` handles, as node lists them. */
export const activeTimeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
