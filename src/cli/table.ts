/**
 * Terminal output: colours (only on a colour terminal, never under `NO_COLOR`) and aligned tables
 * whose widths ignore the colour codes. Text that comes from Redis (circuit names) is made safe
 * for a terminal first: control characters are escaped, never written raw.
 * @module
 */
import type { CircuitStateName } from "../core/circuit.js";

/** The styles the CLI uses. */
export type Style = "bold" | "dim" | "red" | "green" | "yellow" | "magenta" | "cyan" | "gray";

const CODES: Readonly<Record<Style, readonly [number, number]>> = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  gray: [90, 39],
};

/** Paints text, or leaves it plain. */
export type Paint = (style: Style, text: string) => string;

/** Where a command writes, and whether it may use colours. */
export interface Output {
  write(text: string): void;
  readonly isTTY?: boolean;
}

/**
 * Whether to colour `output`: `FORCE_COLOR` (not "0") forces it, `NO_COLOR` (any value) forbids
 * it, otherwise only a terminal gets colours.
 */
export function wantsColor(output: Output, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== "0";
  return output.isTTY === true && env.TERM !== "dumb";
}

/**
 * A painter: ANSI colours when `color`, plain text otherwise.
 *
 * @example
 * ```ts
 * const paint = painter(true);
 * paint("red", "opened"); // "\x1b[31mopened\x1b[39m"
 * ```
 */
export function painter(color: boolean): Paint {
  if (!color) return (_style, text) => text;
  return (style, text) => `\x1b[${CODES[style][0]}m${text}\x1b[${CODES[style][1]}m`;
}

/** The colour of each state, in the CLI as on the dashboard. */
export const STATE_STYLE: Readonly<Record<CircuitStateName, Style>> = {
  closed: "green",
  opened: "red",
  "half-opened": "yellow",
  isolated: "magenta",
  disabled: "gray",
};

/** The states, those that need an operator's eye first. */
export const STATE_ORDER: readonly CircuitStateName[] = ["opened", "half-opened", "isolated", "disabled", "closed"];

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** The width a terminal shows `text` at (colour codes take none). */
export const visibleWidth = (text: string): number => [...text.replace(ANSI, "")].length;

/**
 * `text` safe to print: with a control character in it (a terminal escape sequence in a circuit
 * name, say), it is shown JSON-escaped instead.
 */
export const safe = (text: string): string => (CONTROL.test(text) ? JSON.stringify(text).slice(1, -1) : text);

/**
 * Lays out rows under a header, columns two spaces apart, padded by visible width. The last
 * column is not padded.
 *
 * @example
 * ```ts
 * table(["NAME", "STATE"], [["api", "closed"]], painter(false)); // "NAME  STATE\napi   closed"
 * ```
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[], paint: Paint): string {
  const widths = header.map((h, i) => Math.max(visibleWidth(h), ...rows.map((row) => visibleWidth(row[i] ?? ""))));
  const render = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - visibleWidth(cell))))
      .join("  ")
      .trimEnd();
  return [paint("bold", render(header)), ...rows.map(render)].join("\n");
}
