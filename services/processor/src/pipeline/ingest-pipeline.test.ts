import { describe, expect, it } from 'vitest';
import { ingestPipeline, type IngestWork } from './index.ts';

const RECEIVED_AT = 1_764_115_200_000;
const run = ingestPipeline({ maxMessageBytes: 4096, maxSamplesPerMessage: 3 });

function process(body: unknown, subject = 'metrics.ingest.game'): IngestWork {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const work: IngestWork = { subject, raw: new TextEncoder().encode(raw), receivedAt: RECEIVED_AT, rejections: [] };
  run(work);
  return work;
}

describe('ingest pipeline', () => {
  it('normalizes a good message: default ts is the receipt time, tags sorted, missing tags empty', () => {
    const work = process({ samples: [{ name: 'players_online', value: 1234, ts: 1764115200123, tags: { shard: '7', region: 'eu' } }, { name: 'queue_depth', value: 3 }] });
    expect(work.rejections).toEqual([]);
    expect(work.source).toBe('game');
    expect(work.samples).toEqual([
      { name: 'players_online', value: 1234, ts: 1764115200123, tags: { region: 'eu', shard: '7' } },
      { name: 'queue_depth', value: 3, ts: RECEIVED_AT, tags: {} },
    ]);
    expect(Object.keys(work.samples![0]!.tags)).toEqual(['region', 'shard']);
  });

  it('rejects bad samples with their field and keeps the good ones beside them', () => {
    const work = process({ samples: [{ name: 'ok_metric', value: 1 }, { name: '1bad', value: 1 }, { name: 'x', value: 'NaN' }] });
    expect(work.refused).toBeUndefined();
    expect(work.samples!.map((s) => s.name)).toEqual(['ok_metric']);
    expect(work.rejections.map((r) => [r.index, r.field])).toEqual([
      [1, 'samples[1].name'],
      [2, 'samples[2].value'],
    ]);
  });

  it.each([
    ['malformed JSON', '{"samples": [', '(message)', /malformed JSON/],
    ['missing samples', { metrics: [] }, '(message)', /samples|Unrecognized/],
    ['samples of the wrong type', { samples: 'many' }, 'samples', /expected array/],
    ['empty samples', { samples: [] }, 'samples', /at least one/],
    ['too many samples', { samples: [1, 2, 3, 4].map((v) => ({ name: 'a', value: v })) }, 'samples', /exceed the limit of 3/],
    ['an oversized message', { samples: [{ name: 'a', value: 1, tags: { pad: 'x'.repeat(5000) } }] }, '(message)', /exceeds the limit of 4096/],
  ])('refuses %s as a whole with its reason', (_case, body, field, reason) => {
    const work = process(body);
    expect(work.refused).toBe(true);
    expect(work.samples).toBeUndefined();
    expect(work.rejections.some((r) => r.field === field || r.field.startsWith(field))).toBe(true);
    expect(work.rejections.map((r) => r.reason).join(' ')).toMatch(reason);
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('rejects a %s value (JSON has no such number, so it arrives as null)', (_case, value) => {
    const work = process({ samples: [{ name: 'a', value }] });
    expect(work.rejections[0]).toMatchObject({ index: 0, field: 'samples[0].value' });
  });

  it('rejects wrong types field by field', () => {
    const work = process({ samples: [{ name: 'a', value: 1, ts: 'yesterday' }, { name: 'b', value: 1, tags: { 'bad-key': 'v' } }, { name: 'c', value: 2, tags: { k: 5 } }] });
    expect(work.rejections.map((r) => r.field)).toEqual(['samples[0].ts', 'samples[1].tags.bad-key', 'samples[2].tags.k']);
    expect(work.samples).toEqual([]);
  });

  it.each(['metrics.ingest', 'metrics.ingest.a.b', 'metrics.other.x'])('refuses the unknown subject %s', (subject) => {
    const work = process({ samples: [{ name: 'a', value: 1 }] }, subject);
    expect(work.refused).toBe(true);
    expect(work.rejections[0]).toMatchObject({ field: 'subject' });
    expect(work.rejections[0]!.reason).toContain('unknown subject');
  });
});
