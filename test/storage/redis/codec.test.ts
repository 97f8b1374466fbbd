/**
 * Decoding what Redis holds: a circuit's message read without decoding it (a process skips its own
 * writes by their source), and a config's quorum as the scripts read it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CorruptStateError,
  decodeConfig,
  encodeConfig,
  messageSource,
  parseMessage,
} from "../../../src/storage/redis/codec.js";

const message = (source: string, name: string) =>
  `{"th":5,"ttl":30000,"hm":1}|1700000000000000-a|closed|0|0|0|0|0|0||1700000000000001|${source}|${name}`;

describe("messageSource", () => {
  it("reads the writer's id, the field before the name, whatever the name holds", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[\w-]{1,24}$/), fc.string(), (source, name) => {
        const text = message(source, name);
        expect(messageSource(text)).toBe(source);
        expect(parseMessage(text).source).toBe(source);
        expect(parseMessage(text).name).toBe(name);
      }),
    );
  });

  it("reads no source from a message with too few fields", () => {
    expect(messageSource("")).toBe("");
    expect(messageSource("a|b|c")).toBe("");
    expect(messageSource(message("src", "name").split("|").slice(0, 12).join("|"))).toBe("");
  });
});

describe("a config's quorum, as the scripts read it", () => {
  const base = { threshold: 3, ttl: 30, halfOpenMaxCalls: 1 };

  it("is left out for one process (the default), so such a circuit costs the scripts nothing more", () => {
    expect(encodeConfig({ ...base, quorum: { processes: 1 } })).toBe(encodeConfig(base));
  });

  it("travels as q: { p, f } and comes back as it was", () => {
    const config = { ...base, quorum: { processes: 2, fraction: 0.25 } };
    expect((JSON.parse(encodeConfig(config)) as { q: unknown }).q).toEqual({ p: 2, f: 0.25 });
    expect(decodeConfig(encodeConfig(config))).toEqual(config);
    expect(decodeConfig(encodeConfig({ ...base, quorum: { processes: 4 } }))).toEqual({
      ...base,
      quorum: { processes: 4 },
    });
  });

  it("is an error when it is not an object of numbers", () => {
    expect(() => decodeConfig('{"th":3,"ttl":30000,"hm":1,"q":{"p":"two"}}')).toThrow(CorruptStateError);
    expect(() => decodeConfig('{"th":3,"ttl":30000,"hm":1,"q":7}')).toThrow(CorruptStateError);
  });
});
