/**
 * The key layout: a circuit's channel names it back, whatever characters the name holds.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { redisKeys } from "../../../src/storage/redis/keys.js";

describe("redisKeys", () => {
  const keys = redisKeys("app");

  it("reads a circuit's name back from its channel, braces and percent signs included", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (name) => {
        expect(keys.nameOf(keys.channel(name))).toBe(name);
      }),
    );
    for (const name of ["a{b}", "a%7Bb%7D", "}{", "100%", "%257B", ""])
      expect(keys.nameOf(keys.channel(name))).toBe(name);
  });

  it("reads no name from a key or another prefix's channel", () => {
    expect(keys.nameOf(keys.circuit("api"))).toBeUndefined();
    expect(keys.nameOf(redisKeys("other").channel("api"))).toBeUndefined();
    expect(keys.nameOf(redisKeys("app:events").channel("api"))).toBeUndefined();
    expect(keys.nameOf("app:events:{api")).toBeUndefined();
  });
});
