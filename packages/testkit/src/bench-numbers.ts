/** Settings and figures as the benchmarks read and print them. */

/** A number from the environment variable `name`, `dflt` when unset; throws when it is not one or fails `check`. */
export function envNumber(name: string, dflt: number, check: (n: number) => boolean = (n) => n > 0): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? dflt : Number(raw);
  if (!Number.isFinite(n) || !check(n)) throw new Error(`${name} is not a valid value here: ${raw}`);
  return n;
}

/** `n` with thousands separators and `digits` decimals (`12,345.6`); NaN and infinities as themselves. */
export const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : String(n));

/** `n` rounded to `digits` decimals for a JSON line; null where it is not finite (JSON has no NaN). */
export const roundTo = (n: number, digits = 0): number | null => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : null);

/** An epoch-ms time in ISO-8601. */
export const isoTime = (ms: number): string => new Date(ms).toISOString();
