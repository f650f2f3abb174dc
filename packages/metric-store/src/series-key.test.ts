import { describe, expect, it } from 'vitest';
import { tagsIdentity } from './index.ts';

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
