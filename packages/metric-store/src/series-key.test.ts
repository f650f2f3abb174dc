import { describe, expect, it } from 'vitest';
import { seriesKey, tagsIdentity } from './index.ts';

describe('tagsIdentity', () => {
  it('is the JSON of the tags sorted by key, whatever their order', () => {
    expect(tagsIdentity({ z: '1', a: '2' })).toBe('{"a":"2","z":"1"}');
    expect(tagsIdentity(Object.freeze({ z: '1', a: '2' }))).toBe('{"a":"2","z":"1"}');
    expect(tagsIdentity({})).toBe('{}');
  });

  it('follows a tags object that can still change (only frozen ones are remembered)', () => {
    const open: Record<string, string> = { host: 'a' };
    expect(tagsIdentity(open)).toBe('{"host":"a"}');
    open.host = 'b';
    expect(tagsIdentity(open)).toBe('{"host":"b"}');
  });
});

describe('seriesKey', () => {
  it('is the name alone without tags, else Prometheus notation with the tags sorted and their values quoted', () => {
    expect(seriesKey('up', {})).toBe('up');
    expect(seriesKey('up', { job: 'api' })).toBe('up{job="api"}');
    expect(seriesKey('up', { z: '1', a: 'say "hi"\n' })).toBe('up{a="say \\"hi\\"\\n",z="1"}');
    expect(seriesKey('up', { b: '2', a: '1', c: '3' })).toBe(seriesKey('up', { c: '3', a: '1', b: '2' }));
  });
});
