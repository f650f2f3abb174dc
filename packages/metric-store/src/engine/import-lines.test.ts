import { describe, expect, it } from 'vitest';
import { importLines, tagsOfLabels } from './import-lines.ts';

describe('importLines', () => {
  it('writes a line per run of one series, labels from the sorted tags, and every sample once', () => {
    const eu = Object.freeze({ region: 'eu', shard: '7' });
    const us = Object.freeze({ shard: '1', region: 'us' });
    const body = importLines([
      { name: 'players', tags: eu, ts: 1000.7, value: 1 },
      { name: 'players', tags: eu, ts: 2000, value: 2.5 },
      { name: 'players', tags: us, ts: 1000, value: -3 },
      { name: 'players', tags: eu, ts: 3000, value: 1e21 },
      { name: 'up', tags: {}, ts: 1000, value: 1 },
    ]);
    expect(body.endsWith('\n')).toBe(true);
    expect(body.trimEnd().split('\n').map((line) => JSON.parse(line))).toEqual([
      { metric: { __name__: 'players', region: 'eu', shard: '7' }, values: [1, 2.5], timestamps: [1000, 2000] },
      { metric: { __name__: 'players', region: 'us', shard: '1' }, values: [-3], timestamps: [1000] },
      { metric: { __name__: 'players', region: 'eu', shard: '7' }, values: [1e21], timestamps: [3000] },
      { metric: { __name__: 'up' }, values: [1], timestamps: [1000] },
    ]);
    expect(importLines([])).toBe('');
  });

  it('reads a series\' tags back from the engine\'s labels without its name and the namespace label', () => {
    expect(tagsOfLabels({ __name__: 'x', tmon_ns: 't1', host: 'a' })).toEqual({ host: 'a' });
  });
});
