import { NAMESPACE_LABEL } from '@terminusa/bus';

/**
 * Metric and label names from OTLP's as Prometheus' OTLP receiver makes them by default (prometheus/otlptranslator,
 * `UnderscoreEscapingWithSuffixes`), so the series are those a Prometheus would hold.
 */

/**
 * How a metric's name is suffixed besides its unit: `_total` for a counter, `_ratio` for a gauge in unit `1`, and
 * never `total` for a delta counter, whose samples are increments rather than a counter's running total.
 */
export type NameKind = 'gauge' | 'counter' | 'delta_counter' | 'other';

/** UCUM units (OTel's) as the words Prometheus names use. */
const UNITS: Record<string, string> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '1': '',
  '%': 'percent',
};

/** The denominators of `x/y` units, singular: `By/s` is `bytes_per_second`. */
const PER_UNITS: Record<string, string> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

const own = (table: Record<string, string>, key: string): string | undefined => (Object.hasOwn(table, key) ? table[key] : undefined);

/** A unit word made of name characters: others become `_`, runs of `_` one, and a leading `_` goes. */
function cleanUnit(unit: string): string {
  return unit.replace(/[^a-zA-Z0-9:]/g, '_').replace(/__+/g, '_').replace(/^_/, '');
}

/** The words a unit adds to a name, `[main, per]`; annotations (`{request}`) and `1` add none. */
function unitWords(unit: string): [string, string] {
  const [main = '', per] = unit.split(/\/(.*)/s, 2);
  let mainWord = '';
  let perWord = '';
  const mainUnit = main.trim();
  if (mainUnit && !/[{}]/.test(mainUnit)) mainWord = cleanUnit(own(UNITS, mainUnit) ?? mainUnit);
  const perUnit = (per ?? '').trim();
  if (perUnit && !/[{}]/.test(perUnit)) perWord = cleanUnit(`per_${own(PER_UNITS, perUnit) ?? perUnit}`);
  if (perWord === 'per_') perWord = '';
  perWord = perWord.replace(/_$/, '');
  if (perWord) mainWord = mainWord.replace(/_$/, '');
  return [mainWord, perWord];
}

/**
 * The Prometheus name of an OTLP metric (`http.server.duration` in `s` is `http_server_duration_seconds`); empty
 * when the name has no word at all (`...`), which Prometheus would name after its unit alone.
 */
export function metricName(name: string, unit: string, kind: NameKind): string {
  // Words of the name, split at every character outside [a-zA-Z0-9:]: runs of separators make one `_`.
  let words = name.split(/[^a-zA-Z0-9:]+/).filter(Boolean);
  if (words.length === 0) return '';
  const [mainWord, perWord] = unitWords(unit);
  if (mainWord && !words.includes(mainWord)) words.push(mainWord);
  if (perWord && !words.includes(perWord)) words.push(perWord);
  if (kind === 'counter') words = [...words.filter((w) => w !== 'total'), 'total'];
  if (kind === 'delta_counter') words = words.filter((w) => w !== 'total');
  if (kind === 'gauge' && unit === '1') words = [...words.filter((w) => w !== 'ratio'), 'ratio'];
  const joined = words.join('_');
  return /^[0-9]/.test(joined) ? `_${joined}` : joined;
}

/**
 * The Prometheus label name of an OTLP attribute (`http.method` is `http_method`, `1st` is `key_1st`, `_x` is
 * `key_x`); undefined when nothing but `_` is left, which Prometheus refuses as a label name, and for `__name__`,
 * which Prometheus overwrites with the metric's name. Names the pipeline reserves, which Prometheus would keep
 * (`__x`, the namespace label), get the `key` prefix as `_x` does: left as they are, the processor refused the
 * point's every sample behind a 200.
 */
export function labelName(key: string): string | undefined {
  if (!key) return undefined;
  let name = key.replace(/[^a-zA-Z0-9_]/gu, '_');
  if (name === '__name__') return undefined;
  if (/^[0-9]/.test(name)) name = `key_${name}`;
  else if (name.startsWith('_') && !/^_+$/.test(name)) name = `key${name}`;
  if (name === NAMESPACE_LABEL) name = `key_${name}`;
  return /^_+$/.test(name) ? undefined : name;
}
