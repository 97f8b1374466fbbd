/// <reference lib="dom" />
/**
 * The sparklines of the traffic, drawn with uPlot (bundled into the page's script: nothing is
 * fetched). uPlot draws on a canvas and sets its elements' sizes through the CSSOM
 * (`element.style.width = ...`), which the page's Content-Security-Policy allows: it needs no
 * inline style attribute, no `<style>` of its own and no `eval`. The few rules of its stylesheet
 * that a chart without axes, legend or cursor uses are in the page's own style (`page.ts`).
 * @module
 */
import uPlot from "uplot";

/** One line of a sparkline. */
export interface Line {
  readonly stroke: string;
  /** An area under the line, or none. */
  readonly fill?: string;
}

/** How a sparkline's values are scaled: from 0 to their highest (at least `floor`), or a fixed top. */
export interface SparkScale {
  readonly floor?: number;
  readonly max?: number;
}

/** The width and height of a sparkline, in CSS pixels. */
export const SPARK_HEIGHT = 26;

/**
 * A sparkline in `host`, its x axis from `-(seconds() - 1)` to `0` (seconds before the latest: the
 * page gives every sparkline the same span, so that they line up).
 */
export class Sparkline {
  readonly #plot: uPlot;

  constructor(host: HTMLElement, lines: readonly Line[], scale: SparkScale, seconds: () => number, width: number) {
    // A little room above the highest value: a steady rate reads as a line, not as the top edge.
    const top = (max: number | null): number => scale.max ?? Math.max((max ?? 0) * 1.15, scale.floor ?? 1);
    this.#plot = new uPlot(
      {
        width,
        height: SPARK_HEIGHT,
        pxAlign: false,
        cursor: { show: false },
        select: { show: false, left: 0, top: 0, width: 0, height: 0 },
        legend: { show: false },
        padding: [2, 0, 1, 0],
        scales: {
          x: { time: false, range: () => [-(seconds() - 1), 0] },
          y: { range: (_u, _min, max) => [0, top(max)] },
        },
        axes: [{ show: false }, { show: false }],
        series: [
          {},
          ...lines.map((line) => ({
            stroke: line.stroke,
            width: 1.25,
            points: { show: false },
            spanGaps: false,
            ...(line.fill === undefined ? {} : { fill: line.fill }),
          })),
        ],
      },
      [[], ...lines.map(() => [])],
      host,
    );
  }

  /** Draws `data` (x values, then each line's). */
  set(data: readonly (readonly (number | null)[])[]): void {
    this.#plot.setData(data as uPlot.AlignedData, true);
  }

  /** Fits a new width. */
  resize(width: number): void {
    if (width > 0 && width !== this.#plot.width) this.#plot.setSize({ width, height: SPARK_HEIGHT });
  }

  /** Removes the chart and its listeners. */
  destroy(): void {
    this.#plot.destroy();
  }
}
