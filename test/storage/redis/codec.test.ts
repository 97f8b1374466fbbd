/**
 * Reading a circuit's message without decoding it: a process skips its own writes by their source.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { messageSource, parseMessage } from "../../../src/storage/redis/codec.js";

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
