/**
 * The clock offset of `RedisStorage` (Redis time minus the local clock): the smallest of the
 * recent samples, since a sample can only exceed the true offset by the time its script waited.
 */
import { describe, expect, it } from "vitest";
import { ClockOffset, SAMPLES } from "../../../src/storage/redis/clock-offset.js";

describe("the clock offset", () => {
  it("is 0 before any reply, then the first sample", () => {
    const offset = new ClockOffset();
    expect(offset.value).toBe(0);
    expect(offset.add(-3_600_000)).toBe(-3_600_000);
    expect(offset.value).toBe(-3_600_000);
  });

  it("ignores a sample that waited longer than the others (a delayed script)", () => {
    const offset = new ClockOffset();
    offset.add(1000.2);
    offset.add(1000.1);
    expect(offset.add(1080)).toBe(1000.1);
    expect(offset.add(1000.3)).toBe(1000.1);
  });

  it("follows a local clock that steps forward at once (the samples drop)", () => {
    const offset = new ClockOffset();
    offset.add(5);
    expect(offset.add(5 - 30_000)).toBe(-29_995);
  });

  it(`follows a local clock that steps back once the ${SAMPLES} samples before the step have gone`, () => {
    const offset = new ClockOffset();
    for (let i = 0; i < SAMPLES; i++) offset.add(10);
    for (let i = 0; i < SAMPLES - 1; i++) expect(offset.add(2010)).toBe(10);
    expect(offset.add(2010)).toBe(2010);
  });
});
