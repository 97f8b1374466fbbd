/**
 * The client adapters' event emitter (`src/storage/redis/emitter.ts`), which stands in for
 * `node:events` so that the library loads in browsers: it behaves as `node:events` does for what
 * the adapters use.
 */
import { EventEmitter as NodeEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { EventEmitter } from "../../../src/storage/redis/emitter.js";

/** The same script run on both emitters: what the listeners saw, in order. */
function script(emitter: NodeEmitter | EventEmitter): unknown[] {
  const seen: unknown[] = [];
  const a = (...args: unknown[]) => seen.push(["a", ...args]);
  const b = (...args: unknown[]) => seen.push(["b", ...args]);
  const once = (...args: unknown[]) => seen.push(["once", ...args]);
  emitter.on("x", a);
  emitter.once("x", once);
  emitter.on("x", b);
  seen.push(emitter.listenerCount("x"));
  seen.push(emitter.emit("x", 1, 2));
  seen.push(emitter.listenerCount("x"));
  emitter.emit("x", 3);
  emitter.removeListener("x", a);
  emitter.emit("x", 4);
  emitter.once("y", once);
  emitter.off("y", once); // a once listener is removed by the function given
  seen.push(emitter.emit("y", 5), emitter.listenerCount("y"));
  return seen;
}

describe("the adapters' event emitter", () => {
  it("calls, counts and removes listeners as node:events does", () => {
    expect(script(new EventEmitter())).toEqual(script(new NodeEmitter()));
  });

  it("throws an error emitted with nobody listening, and not once somebody listens", () => {
    const emitter = new EventEmitter();
    const error = new Error("connection lost");
    expect(() => emitter.emit("error", error)).toThrow(error);
    emitter.on("error", () => undefined);
    expect(emitter.emit("error", error)).toBe(true);
  });

  it("removes a once listener through removeListener, which a subclass may override", () => {
    const removed: string[] = [];
    class Tracking extends EventEmitter {
      override removeListener(event: string, listener: (...args: unknown[]) => void): this {
        removed.push(event);
        return super.removeListener(event, listener);
      }
    }
    const emitter = new Tracking();
    emitter.once("ready", () => undefined);
    emitter.emit("ready");
    expect(removed).toEqual(["ready"]);
    expect(emitter.listenerCount("ready")).toBe(0);
  });
});
