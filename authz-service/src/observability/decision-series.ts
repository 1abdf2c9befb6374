/**
 * The decision counter and latency histogram, kept as plain numbers on the hot path and exported to the
 * prom-client registry only when scraped.
 *
 * Why not prom-client's own Counter/Histogram: their label "children" still validate and hash the label
 * object on every inc/observe, which profiled at over half of the adapter's own per-request cost. Here a
 * decision costs four Map lookups on strings that already exist (catalog codes, configured service names,
 * whose hashes V8 caches), two additions and a short bucket search.
 */
import type { Registry } from 'prom-client';

interface MetricValue {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName?: string;
}

interface CustomMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: 'sum' }>;
}

class CountSeries {
  count = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
}

class HistogramSeries {
  count = 0;
  sum = 0;
  /** Non-cumulative counts per bucket; the last slot is above every bound. */
  readonly buckets: number[];
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    size: number,
  ) {
    this.buckets = new Array<number>(size + 1).fill(0);
  }
}

/** A four-level Map: each level keyed by one label value, in a fixed order. */
type Nested<T> = Map<string, Map<string, Map<string, Map<string, T>>>>;

function child<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

export interface DecisionSeriesNames {
  readonly counter: string;
  readonly counterHelp: string;
  readonly histogram: string;
  readonly histogramHelp: string;
  /** Upper bounds in seconds, ascending. */
  readonly buckets: readonly number[];
}

export class DecisionSeries {
  readonly #counts: Nested<CountSeries> = new Map();
  readonly #latency = new Map<string, Map<string, HistogramSeries>>();
  readonly #bounds: readonly number[];

  constructor(registry: Registry, names: DecisionSeriesNames) {
    this.#bounds = [...names.buckets];
    const counts = this.#counts;
    const latency = this.#latency;
    const bounds = this.#bounds;
    const counter: CustomMetric = {
      name: names.counter,
      help: names.counterHelp,
      type: 'counter',
      aggregator: 'sum',
      async get() {
        const values: MetricValue[] = [];
        for (const a of counts.values()) for (const b of a.values()) for (const c of b.values()) for (const s of c.values()) values.push({ value: s.count, labels: { ...s.labels } });
        return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
      },
    };
    const histogram: CustomMetric = {
      name: names.histogram,
      help: names.histogramHelp,
      type: 'histogram',
      aggregator: 'sum',
      async get() {
        const values: MetricValue[] = [];
        for (const byOutcome of latency.values()) {
          for (const s of byOutcome.values()) {
            let cumulative = 0;
            bounds.forEach((le, i) => {
              cumulative += s.buckets[i]!;
              values.push({ value: cumulative, labels: { ...s.labels, le }, metricName: `${names.histogram}_bucket` });
            });
            values.push(
              { value: s.count, labels: { ...s.labels, le: '+Inf' }, metricName: `${names.histogram}_bucket` },
              { value: s.sum, labels: { ...s.labels }, metricName: `${names.histogram}_sum` },
              { value: s.count, labels: { ...s.labels }, metricName: `${names.histogram}_count` },
            );
          }
        }
        return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
      },
    };
    // prom-client's registry needs only name/help/type/get from a metric
    registry.registerMetric(counter as never);
    registry.registerMetric(histogram as never);
  }

  record(adapter: string, outcome: string, reason: string, service: string, seconds: number): void {
    const byOutcome = child(this.#counts, adapter, () => new Map());
    const byReason = child(byOutcome, outcome, () => new Map());
    const byService = child(byReason, reason, () => new Map());
    let count = byService.get(service);
    if (count === undefined) {
      count = new CountSeries({ outcome, reason, adapter, service });
      byService.set(service, count);
    }
    count.count++;

    const latencyByOutcome = child(this.#latency, adapter, () => new Map<string, HistogramSeries>());
    let h = latencyByOutcome.get(outcome);
    if (h === undefined) {
      h = new HistogramSeries({ adapter, outcome }, this.#bounds.length);
      latencyByOutcome.set(outcome, h);
    }
    h.count++;
    h.sum += seconds;
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    h.buckets[i]!++;
  }
}
