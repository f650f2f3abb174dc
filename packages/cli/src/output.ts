/** A table: column headers and rows of cells, as text. */
export interface Table {
  headers: string[];
  rows: string[][];
}

/** A table aligned in columns for the terminal, headers in capitals; the last column is not padded. */
export function formatTable({ headers, rows }: Table): string {
  const all = [headers.map((h) => h.toUpperCase()), ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? '')].length)));
  return `${all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n')}\n`;
}

/** A table as CSV (RFC 4180): cells with a comma, quote or line break are quoted, quotes doubled. */
export function formatCsv({ headers, rows }: Table): string {
  const cell = (text: string) => (/[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
  return [headers, ...rows].map((r) => `${r.map(cell).join(',')}\r\n`).join('');
}

/** A value as pretty JSON with a final newline. */
export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Epoch milliseconds as ISO-8601 (UTC), or an empty cell. */
export function formatTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined || !Number.isFinite(ms) ? '' : new Date(ms).toISOString();
}

/** Tags or labels as `a=1,b=2` (the order given). */
export function formatTags(tags: Record<string, string>): string {
  return Object.entries(tags)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** A number without float noise: at most 6 significant digits past the integer part. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return '';
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(Math.max(6, Math.ceil(Math.log10(Math.abs(value) + 1)) + 3))));
}

/** A byte count with a binary unit (1.5 MiB). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}
