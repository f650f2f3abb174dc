/** How a chart or label shows its numbers. */
export type Unit = 'percent' | 'bytes' | 'bytes/s' | 'plain';

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** A value as a short human label: `42.5 %`, `1.2 MiB/s`, `1,234`. */
export function formatValue(value: number | undefined, unit: Unit = 'plain'): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  if (unit === 'percent') return `${value.toFixed(1)} %`;
  if (unit === 'bytes' || unit === 'bytes/s') {
    let v = Math.abs(value);
    let i = 0;
    while (v >= 1024 && i < BYTE_UNITS.length - 1) {
      v /= 1024;
      i++;
    }
    return `${Math.sign(value) < 0 ? '-' : ''}${v.toFixed(v < 10 && i > 0 ? 1 : 0)} ${BYTE_UNITS[i]}${unit === 'bytes/s' ? '/s' : ''}`;
  }
  return Math.abs(value) >= 1000 || Number.isInteger(value) ? value.toLocaleString('en') : String(Number(value.toPrecision(4)));
}

/** An epoch-ms time as local date and time. */
export function formatTime(ms: number | undefined): string {
  return ms === undefined ? '—' : new Date(ms).toLocaleString();
}

/** Tags as `k=v, k=v` (empty tags as "—"). */
export function formatTags(tags: Record<string, string>): string {
  const text = Object.entries(tags)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return text || '—';
}
