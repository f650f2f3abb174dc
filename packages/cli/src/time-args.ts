import { InvalidArgumentError } from 'commander';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;

/** A duration such as `90s`, `5m`, `2h`, `1d` in milliseconds. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`expected a duration such as 30s, 5m, 2h or 1d, got "${text}"`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

/**
 * A point in time as epoch milliseconds: `now`, a duration ago (`1h`, `now-1h`, `-1h`), an ISO-8601 time or epoch
 * milliseconds; relative to `now` so tests can fix it.
 */
export function parseTime(text: string, now = Date.now()): number {
  const t = text.trim();
  if (t === 'now') return now;
  if (/^\d+$/.test(t)) return Number(t);
  const ago = /^(?:now)?-?(.+)$/.exec(t)![1]!;
  if (DURATION.test(ago)) return now - parseDuration(ago);
  const ms = Date.parse(t);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError(`expected now, a duration ago (1h, now-30m), an ISO-8601 time or epoch ms, got "${text}"`);
  return ms;
}
