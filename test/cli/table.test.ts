/**
 * The CLI's terminal output on its own: when it colours, how tables align around colour codes,
 * and what it does with control characters that come from Redis.
 */
import { describe, expect, it } from "vitest";
import { painter, safe, table, visibleWidth, wantsColor } from "../../src/cli/table.js";

const terminal = { write: () => undefined, isTTY: true };
const pipe = { write: () => undefined, isTTY: false };

describe("colours", () => {
  it("are on for a terminal, off for a pipe", () => {
    expect(wantsColor(terminal, {})).toBe(true);
    expect(wantsColor(pipe, {})).toBe(false);
  });

  it("are off under NO_COLOR whatever else, off for TERM=dumb, and forced on by FORCE_COLOR", () => {
    expect(wantsColor(terminal, { NO_COLOR: "1" })).toBe(false);
    expect(wantsColor(terminal, { NO_COLOR: "1", FORCE_COLOR: "1" })).toBe(false);
    expect(wantsColor(terminal, { TERM: "dumb" })).toBe(false);
    expect(wantsColor(pipe, { FORCE_COLOR: "1" })).toBe(true);
    expect(wantsColor(terminal, { FORCE_COLOR: "0" })).toBe(false);
  });

  it("paint ANSI codes only when on", () => {
    expect(painter(true)("red", "opened")).toBe("\u001b[31mopened\u001b[39m");
    expect(painter(false)("red", "opened")).toBe("opened");
  });
});

describe("tables", () => {
  it("align columns by what the terminal shows, ignoring colour codes", () => {
    const paint = painter(true);
    const text = table(
      ["NAME", "STATE", "FAILURES"],
      [
        ["api", paint("red", "opened"), "3/3"],
        ["search-service", paint("green", "closed"), "0/5"],
      ],
      painter(false),
    );
    const plain = text.replace(/\u001b\[\d+m/g, ""); // eslint-disable-line no-control-regex
    expect(plain.split("\n")).toEqual([
      "NAME            STATE   FAILURES",
      "api             opened  3/3",
      "search-service  closed  0/5",
    ]);
    expect(visibleWidth(paint("bold", "api"))).toBe(3);
  });
});

describe("text from Redis", () => {
  it("is printed as it is, unless it holds a control character: then escaped", () => {
    expect(safe("payments-api")).toBe("payments-api");
    expect(safe("evil\u001b[2Jname")).toBe("evil\\u001b[2Jname");
    expect(safe("two\nlines")).toBe("two\\nlines");
  });
});
