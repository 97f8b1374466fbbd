/**
 * The Cluster slot of a channel, as the sharded subscribers route it (the Cluster's own answers,
 * `CLUSTER KEYSLOT`, are compared in cluster.test.ts).
 */
import { describe, expect, it } from "vitest";
import { keySlot, SLOTS } from "../../../src/storage/redis/slot.js";

describe("keySlot", () => {
  it("is CRC16-XMODEM modulo 16384 (the check value of CRC16-XMODEM is 0x31C3)", () => {
    expect(keySlot("123456789")).toBe(0x31c3 % SLOTS);
  });

  it("hashes the hash tag alone: the text between the first { and the next }", () => {
    expect(keySlot("{user1000}.following")).toBe(keySlot("user1000"));
    expect(keySlot("{user1000}.followers")).toBe(keySlot("user1000"));
    expect(keySlot("foo{bar}{zap}")).toBe(keySlot("bar"));
    expect(keySlot("foo{{bar}}zap")).toBe(keySlot("{bar"));
  });

  it("hashes the whole key when the tag is empty or not closed", () => {
    expect(keySlot("foo{}{bar}")).not.toBe(keySlot("bar"));
    expect(keySlot("foo{bar")).not.toBe(keySlot("bar"));
  });
});
