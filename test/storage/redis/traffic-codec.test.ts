/**
 * The telemetry's messages: a report decodes to what was encoded, and anything else on the
 * channel (another version, a malformed field) decodes to nothing rather than to made-up counts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LATENCY_BUCKETS } from "../../../src/core/traffic.js";
import {
  decodeAnnouncement,
  decodeReport,
  encodeAnnouncement,
  encodeReport,
  type TrafficReport,
} from "../../../src/storage/redis/traffic-codec.js";

const count = fc.nat({ max: 1_000_000 });
const report: fc.Arbitrary<TrafficReport> = fc.record({
  process: fc.string({ minLength: 1 }),
  end: fc.nat(),
  intervalMs: fc.integer({ min: 1, max: 10_000 }),
  circuits: fc.array(
    fc.record({
      name: fc.string({ minLength: 1 }),
      sample: fc.record({
        outcomes: fc.array(count, { minLength: 6, maxLength: 6 }),
        latency: fc.array(fc.tuple(fc.nat({ max: LATENCY_BUCKETS - 1 }), count)),
      }),
      openForItself: fc.boolean(),
    }),
  ),
});

describe("telemetry messages", () => {
  it("decode a report to what was encoded", () => {
    fc.assert(
      fc.property(report, (r) => {
        expect(decodeReport(encodeReport(r))).toEqual(r);
      }),
    );
  });

  it("decode an announcement to what was encoded", () => {
    expect(decodeAnnouncement(encodeAnnouncement({ watcher: "w-1", until: 1234 }))).toEqual({
      watcher: "w-1",
      until: 1234,
    });
  });

  it.each([
    ["not JSON", "config|1|closed"],
    ["another version", '{"v":2,"p":"a","t":1000,"i":1000,"c":[]}'],
    ["five outcomes", '{"v":1,"p":"a","t":1000,"i":1000,"c":[["x",[1,2,3,4,5],[],0]]}'],
    ["a bucket out of range", `{"v":1,"p":"a","t":1000,"i":1000,"c":[["x",[1,0,0,0,0,0],[[${LATENCY_BUCKETS},1]],0]]}`],
    ["a negative count", '{"v":1,"p":"a","t":1000,"i":1000,"c":[["x",[-1,0,0,0,0,0],[],0]]}'],
    ["an interval of 0", '{"v":1,"p":"a","t":1000,"i":0,"c":[]}'],
    ["an empty name", '{"v":1,"p":"a","t":1000,"i":1000,"c":[["",[1,0,0,0,0,0],[],0]]}'],
  ])("ignore %s", (_what, message) => {
    expect(decodeReport(message)).toBeUndefined();
  });
});
