/**
 * A number as a label value (`le`, `quantile`), as Prometheus' OTLP translator writes it (Go's
 * `FormatFloat(x, 'f', -1, 64)`): the shortest digits that read back as the same number, never in exponent form
 * (`1e-7` is `0.0000001`), and `+Inf`, `-Inf`, `NaN`.
 */
export function floatLabel(x: number): string {
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  if (Number.isNaN(x)) return 'NaN';
  const text = String(x);
  const parts = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!parts) return text;
  const [, sign, lead, fraction = '', exponent] = parts;
  const digits = `${lead}${fraction}`;
  const point = 1 + Number(exponent);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}
