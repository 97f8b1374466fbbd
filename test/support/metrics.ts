/**
 * Reading metrics back in the integration tests: a prom-client registry's text exposition, as
 * Prometheus scrapes it, and an OpenTelemetry SDK's collection, through a reader the test pulls.
 */
import { MetricReader, type DataPoint, type Histogram, type MetricData } from "@opentelemetry/sdk-metrics";
import type { Registry } from "prom-client";

/** One sample of the text exposition: `name{labels} value`. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the Prometheus text format (comment lines skipped). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key as string] = (value as string).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    const raw = match[3] as string;
    samples.push({ name: match[1] as string, labels, value: raw === "+Inf" ? Infinity : Number(raw) });
  }
  return samples;
}

const sameLabels = (a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean => {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
};

/** A scrape of a registry, with look-ups by name and exact label set. */
export class Scrape {
  constructor(readonly samples: readonly Sample[]) {}

  /** Scrapes `registry` (`registry.metrics()`, the text Prometheus reads). */
  static async of(registry: Registry): Promise<Scrape> {
    return new Scrape(parseExposition(await registry.metrics()));
  }

  /** The value of the sample with exactly these labels, or `undefined` when there is none. */
  value(name: string, labels: Readonly<Record<string, string>>): number | undefined {
    return this.samples.find((s) => s.name === name && sameLabels(s.labels, labels))?.value;
  }

  /** Every sample of `name`. */
  all(name: string): Sample[] {
    return this.samples.filter((s) => s.name === name);
  }

  /** The states whose gauge sample is 1 for `circuit` (exactly one when the gauge is right). */
  statesOf(circuit: string, name = "purgatory_circuit_state"): string[] {
    return this.all(name).flatMap((s) =>
      s.labels.circuit === circuit && s.value === 1 ? [s.labels.state as string] : [],
    );
  }
}

/** A reader the test pulls: `collect()` gives what an exporter would get, now. */
export class PullReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }

  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /** Collects, failing on collection errors; the metrics by instrument name. */
  async read(): Promise<Collected> {
    const { resourceMetrics, errors } = await this.collect();
    if (errors.length > 0) throw new AggregateError(errors, "collection errors");
    return new Collected(
      resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.map((m) => ({ scope: scope.scope, metric: m }))),
    );
  }
}

/** One collection of an OpenTelemetry SDK. */
export class Collected {
  constructor(
    readonly metrics: readonly {
      readonly scope: { readonly name: string; readonly version?: string };
      readonly metric: MetricData;
    }[],
  ) {}

  /** The instrument named `name`, or `undefined`. */
  metric(name: string): MetricData | undefined {
    return this.metrics.find((m) => m.metric.descriptor.name === name)?.metric;
  }

  /** The data point of `name` with exactly these attributes, or `undefined`. */
  point(name: string, attributes: Readonly<Record<string, string>>): DataPoint<unknown> | undefined {
    const metric = this.metric(name);
    return (metric?.dataPoints as DataPoint<unknown>[] | undefined)?.find((p) => sameLabels(p.attributes, attributes));
  }

  /** The value of a counter's or gauge's data point. */
  value(name: string, attributes: Readonly<Record<string, string>>): number | undefined {
    return this.point(name, attributes)?.value as number | undefined;
  }

  /** The value of a histogram's data point. */
  histogram(name: string, attributes: Readonly<Record<string, string>>): Histogram | undefined {
    return this.point(name, attributes)?.value as Histogram | undefined;
  }

  /** The states whose gauge point is 1 for `circuit`. */
  statesOf(circuit: string, name = "purgatory_circuit_state"): string[] {
    const points = (this.metric(name)?.dataPoints ?? []) as DataPoint<unknown>[];
    return points.flatMap((p) =>
      p.attributes.circuit === circuit && p.value === 1 ? [String(p.attributes.state)] : [],
    );
  }
}
