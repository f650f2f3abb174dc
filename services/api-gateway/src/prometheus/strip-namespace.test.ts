import { describe, expect, it } from 'vitest';
import { stripNamespaceText, stripQueryData } from './strip-namespace.ts';

/** An answer as the engine writes it: compact JSON. */
const answer = (resultType: string, result: unknown) => JSON.stringify({ status: 'success', isPartial: false, data: { resultType, result } });

describe('stripNamespaceText', () => {
  const cases: Record<string, string> = {
    'the label first, between others and last': answer('vector', [
      { metric: { tmon_ns: 't1', __name__: 'up', job: 'a' }, value: [1, '1'] },
      { metric: { __name__: 'up', tmon_ns: 't1', job: 'b' }, value: [1, '0'] },
      { metric: { __name__: 'up', job: 'c', tmon_ns: 't1' }, value: [1, '1'] },
    ]),
    'the only label, and none': answer('matrix', [
      { metric: { tmon_ns: 't1' }, values: [[1, '1'], [2, '2']] },
      { metric: {}, values: [[1, '3']] },
    ]),
    'values with quotes, backslashes, commas and the label pair as text': answer('vector', [
      { metric: { __name__: 'x', path: 'C:\\dir\\"a",b', tmon_ns: 't-2_x', note: '"tmon_ns":"t1",' }, value: [1, '2'] },
    ]),
    'a warning that names the label': JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: { tmon_ns: 't1', a: 'b' }, value: [1, '1'] }] }, warnings: ['"tmon_ns" is kept apart'] }),
    'a scalar and a string': answer('scalar', [1, '2']),
  };

  for (const [name, text] of Object.entries(cases)) {
    it(`takes the label off as the parsed way does: ${name}`, () => {
      const parsed = JSON.parse(text);
      const expected = { ...parsed, data: stripQueryData(parsed.data) };
      expect(JSON.parse(stripNamespaceText(text)!)).toEqual(expected);
    });
  }

  it('passes an answer without the label on as it is', () => {
    const text = answer('vector', [{ metric: { __name__: 'up' }, value: [1, '1'] }]);
    expect(stripNamespaceText(text)).toBe(text);
  });

  it('passes on a value that only quotes the label, and leaves spaced JSON to the parsed way', () => {
    const quoting = answer('vector', [{ metric: { note: 'see "tmon_ns":"t1"' }, value: [1, '1'] }]);
    expect(stripNamespaceText(quoting)).toBe(quoting);
    expect(stripNamespaceText('{"data":{"result":[{"metric":{"tmon_ns": "t1"}}]}}')).toBeUndefined();
  });

  it('leaves a label name that ends in the label pair’s text to the parsed way', () => {
    // The engine takes any label name; this one's JSON holds `"tmon_ns":"x"` from an escaped quote on.
    expect(stripNamespaceText(answer('vector', [{ metric: { 'a"tmon_ns': 'x', tmon_ns: 't1' }, value: [1, '1'] }]))).toBeUndefined();
    expect(stripNamespaceText(answer('vector', [{ metric: { tmon_ns: 't1', 'a"tmon_ns': 'x' }, value: [1, '1'] }]))).toBeUndefined();
  });
});
