import { tagsRefused, type IngestSample, type TagLimits } from '@terminusa/bus';
import type { DecodedSamples, DropReason, SampleBudget } from '../decoded-samples.ts';
import { exponentialBuckets, type ClassicBucket } from './exponential-buckets.ts';
import { floatLabel } from './float-label.ts';
import { attributeLabels, resourceIdentity, targetInfoLabels } from './otlp-labels.ts';
import { metricName, type NameKind } from './otlp-names.ts';
import { NO_RECORDED_VALUE, TEMPORALITY, type ExportMetricsServiceRequest, type ExponentialHistogramDataPoint, type HistogramDataPoint, type KeyValue, type Metric, type NumberDataPoint, type SummaryDataPoint } from './otlp-proto.ts';

/** A sample of a data point before its time is known to be good. */
type Candidate = { name: string; value: number; tags: Record<string, string> };

/** What every point of a metric kind has. */
type Point = { attributes?: KeyValue[]; timeUnixNano?: string; flags?: number };

/** Epoch milliseconds of an OTLP time (nanoseconds as decimal digits); 0 when it was not sent. */
function millis(nanos: string | undefined): number {
  return nanos ? Number(BigInt(nanos) / 1_000_000n) : 0;
}

const numberValue = (p: NumberDataPoint): number => (p.asDouble !== undefined ? p.asDouble : Number(p.asInt ?? 0));

/** `_bucket` (cumulative, `+Inf` = the count), `_sum` when the point has one, `_count`. */
function histogramSamples(name: string, tags: Record<string, string>, buckets: ClassicBucket[], count: number, sum: number | undefined): Candidate[] {
  const out: Candidate[] = buckets.map((b) => ({ name: `${name}_bucket`, value: b.count, tags: { ...tags, le: floatLabel(b.le) } }));
  out.push({ name: `${name}_bucket`, value: count, tags: { ...tags, le: '+Inf' } });
  if (sum !== undefined) out.push({ name: `${name}_sum`, value: sum, tags });
  out.push({ name: `${name}_count`, value: count, tags });
  return out;
}

/** Explicit bounds, each bucket with the counts of those below it added (OTLP's bucket counts are per bucket). */
function explicitBuckets(p: HistogramDataPoint): ClassicBucket[] {
  const bounds = p.explicitBounds ?? [];
  const counts = p.bucketCounts ?? [];
  const buckets: ClassicBucket[] = [];
  let below = 0;
  for (let i = 0; i < bounds.length && i < counts.length; i++) {
    below += Number(counts[i]);
    buckets.push({ le: bounds[i]!, count: below });
  }
  return buckets;
}

/**
 * The samples of one point, counted before they are made: each is a copy of the point's labels (a bucket's with its
 * `le`), written out again in its message, so a point's labels are judged and counted first.
 */
interface PointSamples {
  count: number;
  /** The label some of the samples add to the point's (`le`, `quantile`). */
  adds?: string;
  make(name: string, tags: Record<string, string>): Candidate[];
}

/** How a metric is read: the name kind it is stored under, and each point with the samples it makes. */
interface Reading {
  kind: NameKind;
  /** Why every point is left out, when the metric as a whole cannot be stored. */
  refused?: DropReason;
  points: { point: Point; samples(): PointSamples }[];
}

/** Each point of a metric with the samples it makes, worked out when the point is read. */
function each<P extends Point>(points: P[] | undefined, samples: (point: P) => PointSamples): Reading['points'] {
  return (points ?? []).map((point) => ({ point, samples: () => samples(point) }));
}

/** A histogram point's samples: its buckets', `+Inf`'s, `_sum`'s when it has one and `_count`'s. */
function histogramPoint(buckets: ClassicBucket[], count: number, sum: number | undefined): PointSamples {
  return { count: buckets.length + (sum === undefined ? 2 : 3), adds: 'le', make: (name, tags) => histogramSamples(name, tags, buckets, count, sum) };
}

/** Sums and histograms say whether their points are deltas or running totals; one that says neither cannot be read. */
const unspecified = (temporality: number | undefined): DropReason | undefined => ((temporality ?? TEMPORALITY.unspecified) === TEMPORALITY.unspecified ? 'unspecified_temporality' : undefined);

/** The reading of a metric by its kind; undefined for a metric that carries no data. */
function readingOf(metric: Metric): Reading | undefined {
  const { gauge, sum, histogram, exponentialHistogram, summary } = metric;
  const number = (p: NumberDataPoint): PointSamples => ({ count: 1, make: (name, tags) => [{ name, value: numberValue(p), tags }] });
  if (gauge) return { kind: 'gauge', points: each(gauge.dataPoints, number) };
  if (sum) {
    // A delta point is the increase over its own interval: stored as it is, and not named a counter (`_total`).
    const kind: NameKind = !sum.isMonotonic ? 'other' : sum.aggregationTemporality === TEMPORALITY.delta ? 'delta_counter' : 'counter';
    return { kind, refused: unspecified(sum.aggregationTemporality), points: each(sum.dataPoints, number) };
  }
  if (histogram) {
    const points = each(histogram.dataPoints, (p: HistogramDataPoint) => histogramPoint(explicitBuckets(p), Number(p.count ?? 0), p.sum));
    return { kind: 'other', refused: unspecified(histogram.aggregationTemporality), points };
  }
  if (exponentialHistogram) {
    const points = each(exponentialHistogram.dataPoints, (p: ExponentialHistogramDataPoint) => histogramPoint(exponentialBuckets(p), Number(p.count ?? 0), p.sum));
    return { kind: 'other', refused: unspecified(exponentialHistogram.aggregationTemporality), points };
  }
  if (summary) {
    const points = each(summary.dataPoints, (p: SummaryDataPoint) => ({
      count: (p.quantileValues?.length ?? 0) + 2,
      adds: 'quantile',
      make: (name, tags) => [
        ...(p.quantileValues ?? []).map((q) => ({ name, value: q.value ?? 0, tags: { ...tags, quantile: floatLabel(q.quantile ?? 0) } })),
        { name: `${name}_sum`, value: p.sum ?? 0, tags },
        { name: `${name}_count`, value: Number(p.count ?? 0), tags },
      ],
    }));
    return { kind: 'other', points };
  }
  return undefined;
}

/**
 * The most samples `request` makes, from its arrays' lengths alone (a decoded message has the plain object's
 * fields): a point of a gauge or sum 1, of a histogram its buckets, +Inf, _sum and _count, of a summary its
 * quantiles, _sum and _count; a resource its `target_info`.
 */
export function samplesMade(request: ExportMetricsServiceRequest): number {
  let n = 0;
  for (const rm of request.resourceMetrics ?? []) {
    n++;
    for (const scope of rm.scopeMetrics ?? []) {
      for (const m of scope.metrics ?? []) {
        n += (m.gauge?.dataPoints?.length ?? 0) + (m.sum?.dataPoints?.length ?? 0);
        for (const p of m.histogram?.dataPoints ?? []) n += (p.explicitBounds?.length ?? 0) + 3;
        for (const p of m.exponentialHistogram?.dataPoints ?? []) n += (p.positive?.bucketCounts?.length ?? 0) + 4;
        for (const p of m.summary?.dataPoints ?? []) n += (p.quantileValues?.length ?? 0) + 2;
      }
    }
  }
  return n;
}

/**
 * The samples of an OTLP metrics request, mapped as Prometheus' OTLP receiver maps them so that queries and
 * dashboards written for Prometheus work unchanged; docs/otlp.md lists the rules, the drops and the differences.
 * A point whose labels the processor would refuse (`tagLimits`) is left out; the others' labels are counted against
 * `budget` once per sample, as the pipeline's messages write them, before the samples are made.
 */
export function otlpToSamples(request: ExportMetricsServiceRequest, budget: SampleBudget, tagLimits: TagLimits): DecodedSamples {
  const samples: IngestSample[] = [];
  const dropped: DecodedSamples['dropped'] = {};
  let rejectedPoints = 0;
  const drop = (reason: DropReason, n: number) => {
    if (n > 0) dropped[reason] = (dropped[reason] ?? 0) + n;
  };
  for (const rm of request.resourceMetrics ?? []) {
    const resource = rm.resource?.attributes ?? [];
    const identity = resourceIdentity(resource);
    let latest = 0;
    for (const scope of rm.scopeMetrics ?? []) {
      for (const metric of scope.metrics ?? []) {
        const reading = readingOf(metric);
        if (!reading) continue;
        const name = metricName(metric.name ?? '', metric.unit ?? '', reading.kind);
        for (const { point, samples: samplesOf } of reading.points) {
          const ts = millis(point.timeUnixNano);
          latest = Math.max(latest, ts);
          const made = samplesOf();
          const tags = attributeLabels(point.attributes ?? [], identity);
          // Refused before its samples are made (each a copy of its labels), the drop counted in samples as remote_write's are.
          const refused = !name ? 'invalid_name' : (reading.refused ?? (ts <= 0 ? 'no_timestamp' : tagsRefused(tags, tagLimits, made.adds) ? 'invalid_label' : undefined));
          if (refused) {
            drop(refused, made.count);
            rejectedPoints++;
            continue;
          }
          budget.takeTags(made.count, tags);
          const candidates = made.make(name, tags);
          // OTel's staleness: the series stopped. A staleness marker for each of the point's series, as Prometheus writes.
          if ((point.flags ?? 0) & NO_RECORDED_VALUE) {
            for (const c of candidates) samples.push({ name: c.name, stale: true, ts, tags: c.tags });
            continue;
          }
          const finite = candidates.filter((c) => Number.isFinite(c.value));
          for (const c of finite) samples.push({ name: c.name, value: c.value, ts, tags: c.tags });
          drop('non_finite', candidates.length - finite.length);
          if (finite.length < candidates.length) rejectedPoints++;
        }
      }
    }
    const info = latest > 0 ? targetInfoLabels(resource) : undefined;
    // A resource of many attributes (Kubernetes, `process.command_args`) makes one the processor would refuse.
    if (info && tagsRefused(info, tagLimits)) drop('invalid_label', 1);
    else if (info) {
      budget.takeTags(1, info);
      samples.push({ name: 'target_info', value: 1, ts: latest, tags: info });
    }
  }
  return { samples, dropped, rejectedPoints };
}
