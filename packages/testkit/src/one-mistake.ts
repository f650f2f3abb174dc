import fc from 'fast-check';

/** Wrong values for a field: wrong types, edge numbers, empty and odd strings. */
export const wrongValues: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 3 }),
  fc.constantFrom('', '1bad', 'a-b', 'x'.repeat(300), Number.MAX_SAFE_INTEGER + 1, 2 ** 60, 1.5, 0, -1, -0, Infinity, -Infinity, NaN, null, undefined, true, [], {}),
  fc.double(),
  fc.integer(),
);

/**
 * A valid value with one mistake somewhere inside it: a field (at any depth) takes a wrong value or goes
 * missing, or an object or array gains an extra entry. For checking that a fast validator accepts no more
 * than the schema it stands in for.
 */
export function oneMistake<T>(valid: fc.Arbitrary<T>, wrong: fc.Arbitrary<unknown> = wrongValues): fc.Arbitrary<unknown> {
  return fc.tuple(valid, fc.nat(), fc.nat(), fc.constantFrom('set', 'delete', 'extra'), wrong).map(([value, at, keyAt, how, bad]) => {
    const copy = JSON.parse(JSON.stringify(value)) as unknown;
    const nodes: Record<string, unknown>[] = [];
    const walk = (v: unknown) => {
      if (typeof v !== 'object' || v === null) return;
      nodes.push(v as Record<string, unknown>);
      for (const child of Object.values(v)) walk(child);
    };
    walk(copy);
    if (nodes.length === 0) return bad;
    const node = nodes[at % nodes.length]!;
    const keys = Object.keys(node);
    const key = keys.length > 0 ? keys[keyAt % keys.length]! : '0';
    if (how === 'set') node[key] = bad;
    else if (how === 'delete') delete node[key];
    else node[Array.isArray(node) ? String(node.length) : `extra${keyAt % 3}`] = bad;
    return copy;
  });
}
