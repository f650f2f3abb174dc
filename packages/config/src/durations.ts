const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** Milliseconds in a duration setting: a number of seconds or a string like `2h`. */
export function durationMs(value: number | string): number {
  if (typeof value === 'number') return value * 1000;
  const match = /^(\d+)(ms|s|m|h|d|w)$/.exec(value);
  if (!match) throw new RangeError(`not a duration: ${value}`);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** Prometheus' duration syntax: units from years down to milliseconds, each at most once, in that order (`1h30m`). */
const PROMETHEUS_DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const PROMETHEUS_UNITS_MS = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1];

/** Milliseconds of a Prometheus duration (`1h30m`, `500ms`, `0s`); undefined when the text is not one. */
export function prometheusDurationMs(text: string): number | undefined {
  const match = text === '' ? null : PROMETHEUS_DURATION.exec(text);
  return match ? match.slice(1).reduce((sum, n, i) => sum + Number(n ?? 0) * PROMETHEUS_UNITS_MS[i]!, 0) : undefined;
}
