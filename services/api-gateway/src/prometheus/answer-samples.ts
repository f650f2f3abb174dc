/**
 * Nesting depth, counting objects and arrays from the answer's root, of what holds one sample: in a vector each
 * series' object (root, data, result, series), in a matrix each `[time, value]` pair of a series' `values` (or
 * `histograms`: root, data, result, series, values, pair).
 */
const SAMPLE_DEPTH: Record<string, { depth: number; opens: number }> = {
  vector: { depth: 4, opens: 0x7b /* { */ },
  matrix: { depth: 6, opens: 0x5b /* [ */ },
};

/** The result type a query answer's text names: `"resultType"` can only begin a key, since quotes in values are escaped. */
const RESULT_TYPE = /"resultType"\s*:\s*"(\w+)"/;

/**
 * The samples a query answer holds, counted in its JSON text as the parsed answer's points would be (a point per
 * vector element, every point of a matrix, one for a scalar or string), for the sample limit. A scan of the text's
 * brackets outside strings, where parsing a 370 KB matrix took the gateway 3 ms for a count it then threw away.
 */
export function samplesInText(text: string): number {
  const type = RESULT_TYPE.exec(text)?.[1];
  const sample = type === undefined ? undefined : SAMPLE_DEPTH[type];
  if (!sample) return 1;
  let depth = 0;
  let samples = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // To the string's closing quote, over escaped characters.
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c /* \ */) i++;
        else if (s === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth === sample.depth && c === sample.opens) samples++;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    }
  }
  return samples;
}
