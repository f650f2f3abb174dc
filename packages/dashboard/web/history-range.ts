/** A time range the explorer offers, with the bucket that keeps it to a few hundred points. */
export interface HistoryRange {
  id: string;
  label: string;
  ms: number;
  /** The `step` asked of `/metrics/history`; the gateway raises it to the bucket of the tier that still covers the range. Undefined: raw points. */
  step: string | undefined;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The explorer's ranges, from 15 minutes (raw samples) to 90 days (daily rollups). */
export const HISTORY_RANGES: readonly HistoryRange[] = [
  { id: '15m', label: 'last 15 minutes', ms: 15 * MINUTE, step: undefined },
  { id: '1h', label: 'last hour', ms: HOUR, step: '1m' },
  { id: '6h', label: 'last 6 hours', ms: 6 * HOUR, step: '1m' },
  { id: '24h', label: 'last 24 hours', ms: DAY, step: '5m' },
  { id: '7d', label: 'last 7 days', ms: 7 * DAY, step: '1h' },
  { id: '30d', label: 'last 30 days', ms: 30 * DAY, step: '1h' },
  { id: '90d', label: 'last 90 days', ms: 90 * DAY, step: '1d' },
];

/** `k=v, k=v` as tag filters (`tag.k=v` query parameters); malformed parts are reported, not dropped. */
export function parseTagFilter(text: string): { tags: Record<string, string>; errors: string[] } {
  const tags: Record<string, string> = {};
  const errors: string[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) errors.push(`"${part}" is not key=value`);
    else tags[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return { tags, errors };
}
