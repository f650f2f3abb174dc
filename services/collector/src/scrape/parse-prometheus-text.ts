import { shortenedText } from '@terminusa/bus';

/** Metric types of the Prometheus text exposition format. */
export const METRIC_TYPES = ['counter', 'gauge', 'histogram', 'summary', 'untyped'] as const;
/** One of `METRIC_TYPES`. */
export type MetricType = (typeof METRIC_TYPES)[number];

/** One sample line of an exposition: a histogram or summary is several of these (`_bucket`, `_sum`, `_count`, quantiles). */
export interface ExposedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  /** The timestamp the target gave, in epoch ms, if any. */
  timestampMs?: number;
}

/**
 * How an answer is written, from its content type: the Prometheus text format (0.0.4), or OpenMetrics
 * (`application/openmetrics-text`), whose timestamps are in seconds and which has types of its own.
 */
export type ExpositionFormat = 'text' | 'openmetrics';

/**
 * The OpenMetrics-only types, read as the text format's type of their samples: `unknown` is `untyped`; an info's
 * `_info` sample (1), a stateset's sample per state (0 or 1) and a gauge histogram's `_bucket`, `_gcount` and `_gsum`
 * are kept as gauges (values that may go down), as Prometheus keeps them as plain series.
 */
const OPENMETRICS_TYPES: Readonly<Record<string, MetricType>> = { unknown: 'untyped', info: 'gauge', stateset: 'gauge', gaugehistogram: 'gauge' };

/** What a target exposed: its finite samples, the declared type per family, and how many NaN/±Inf samples were left out. */
export interface Exposition {
  samples: ExposedSample[];
  types: Map<string, MetricType>;
  nonFinite: number;
}

/** A line the text format does not allow; like Prometheus, the whole scrape counts as failed. */
export class ExpositionParseError extends Error {
  override readonly name = 'ExpositionParseError';
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/**
 * A decimal float: digits with an optional fraction, or a fraction alone, then an optional exponent. Each digit can
 * be matched one way only: `\d+\.?\d*` split a run of digits between its two parts every way it could before
 * failing, and a million digits ending in a bad character held the event loop (and so the scrape timeout) for minutes.
 */
const FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Parses the Prometheus text format (0.0.4), or OpenMetrics when `format` says so (its types and seconds
 * timestamps; in either, `# EOF` ends the answer and exemplars are left out).
 * NaN and ±Inf values are counted and dropped, since an ingest sample must be a finite number.
 */
export function parsePrometheusText(text: string, maxSamples = Number.POSITIVE_INFINITY, format: ExpositionFormat = 'text'): Exposition {
  const samples: ExposedSample[] = [];
  const types = new Map<string, MetricType>();
  let nonFinite = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '').trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      if (line === '# EOF') break;
      const type = /^#\s*TYPE\s+(\S+)\s+(\S+)\s*$/.exec(line);
      if (type) {
        const kind = type[2]!.toLowerCase();
        const known = (METRIC_TYPES as readonly string[]).includes(kind) ? (kind as MetricType) : format === 'openmetrics' ? OPENMETRICS_TYPES[kind] : undefined;
        if (!known) throw new ExpositionParseError(i + 1, `unknown metric type "${shown(type[2]!)}"`);
        types.set(type[1]!, known);
      }
      continue;
    }
    const sample = parseSampleLine(line, i + 1, format);
    if (Number.isFinite(sample.value)) samples.push(sample);
    else nonFinite++;
    // Stopped as soon as it is past the limit: a few million short lines would otherwise be held as objects.
    if (samples.length + nonFinite > maxSamples) throw new ExpositionParseError(i + 1, `more than ${maxSamples} samples (collection.scrapeLimits.samples)`);
  }
  return { samples, types, nonFinite };
}

function parseSampleLine(line: string, lineNo: number, format: ExpositionFormat): ExposedSample {
  const name = METRIC_NAME.exec(line)?.[0];
  if (!name) throw new ExpositionParseError(lineNo, 'expected a metric name');
  let pos = name.length;
  // No prototype: a label called constructor or toString is a label like any other.
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  // The text format allows blanks between the name and its labels (Prometheus' parsers read `up {job="a"} 1`);
  // OpenMetrics does not.
  const labelsAt = format === 'text' ? skipSpaces(line, pos) : pos;
  if (line[labelsAt] === '{') pos = parseLabels(line, labelsAt + 1, labels, lineNo);
  const rest = line.slice(pos);
  if (rest !== '' && !/^[ \t]/.test(rest)) throw new ExpositionParseError(lineNo, `unexpected "${rest[0]}" after ${shown(name)}`);
  // An OpenMetrics exemplar (` # {…} value`) follows the value; it is not part of the sample.
  const fields = rest.split(' # ')[0]!.trim().split(/[ \t]+/);
  if (fields.length < 1 || fields[0] === '' || fields.length > 2) throw new ExpositionParseError(lineNo, `expected "<value> [timestamp]" after ${shown(name)}`);
  const value = parseValue(fields[0]!, lineNo);
  const sample: ExposedSample = { name, labels, value };
  if (fields[1] !== undefined) {
    const ts = Number(fields[1]);
    if (!Number.isFinite(ts)) throw new ExpositionParseError(lineNo, `bad timestamp "${shown(fields[1])}"`);
    // OpenMetrics writes seconds, with a fraction at will: read as milliseconds they were 1970 and every sample too old.
    sample.timestampMs = format === 'openmetrics' ? Math.round(ts * 1000) : Math.trunc(ts);
  }
  return sample;
}

/** Reads `name="value",…}` from `pos`; returns the position after the closing brace. */
function parseLabels(line: string, pos: number, labels: Record<string, string>, lineNo: number): number {
  for (;;) {
    pos = skipSpaces(line, pos);
    if (line[pos] === '}') return pos + 1;
    const label = LABEL_NAME.exec(line.slice(pos))?.[0];
    if (!label) throw new ExpositionParseError(lineNo, 'expected a label name');
    pos = skipSpaces(line, pos + label.length);
    if (line[pos] !== '=') throw new ExpositionParseError(lineNo, `expected "=" after label ${shown(label)}`);
    pos = skipSpaces(line, pos + 1);
    if (line[pos] !== '"') throw new ExpositionParseError(lineNo, `expected a quoted value for label ${shown(label)}`);
    // Taken in slices between escapes, not a character at a time: a string grown by one character per step is a
    // chain of pieces until it is flattened, and a hostile target's half-million long values took gigabytes.
    let value = '';
    let from = pos + 1;
    let slash = line.indexOf('\\', from);
    let quote = line.indexOf('"', from);
    for (;;) {
      if (quote < 0) throw new ExpositionParseError(lineNo, `unterminated value of label ${shown(label)}`);
      if (slash < 0 || quote < slash) {
        value += line.slice(from, quote);
        pos = quote;
        break;
      }
      value += line.slice(from, slash);
      const next = line[slash + 1];
      // The format defines three escapes; any other backslash is kept as written.
      if (next === 'n') value += '\n';
      else if (next === '\\' || next === '"') value += next;
      else value += `\\${next ?? ''}`;
      from = slash + 2;
      slash = line.indexOf('\\', from);
      // Searched again only when an escape took it (`\"`): searched after every escape, the rest of the line was read
      // once per escape, and 640 KB of `\n` took almost a second of the event loop.
      if (quote < from) quote = line.indexOf('"', from);
    }
    if (Object.hasOwn(labels, label)) throw new ExpositionParseError(lineNo, `label ${shown(label)} given twice`);
    labels[label] = value;
    pos = skipSpaces(line, pos + 1);
    if (line[pos] === ',') pos++;
    else if (line[pos] !== '}') throw new ExpositionParseError(lineNo, `expected "," or "}" after label ${shown(label)}`);
  }
}

function skipSpaces(line: string, pos: number): number {
  while (line[pos] === ' ' || line[pos] === '\t') pos++;
  return pos;
}

function parseValue(raw: string, lineNo: number): number {
  const lower = raw.toLowerCase();
  if (lower === 'nan') return NaN;
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  // Number('') and Number('0x1f') accept what the format does not; the format's floats are Go's ParseFloat syntax.
  if (!FLOAT.test(raw)) throw new ExpositionParseError(lineNo, `bad value "${shown(raw)}"`);
  return Number(raw);
}

/** Most characters of the target's text a parse error quotes: the error is logged with each failed scrape. */
const SHOWN_CHARS = 64;

/** `text` as a parse error quotes it, cut to {@link SHOWN_CHARS}. */
const shown = (text: string): string => shortenedText(text, SHOWN_CHARS);
