import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { parseTagArg, tagQuery } from './tag-args.ts';

describe('--tag key=value', () => {
  it('accumulates pairs; the value may contain = and be empty', () => {
    const tags = ['region=eu', 'query=a=b', 'empty='].reduce<Record<string, string>>((acc, t) => parseTagArg(t, acc), {});
    expect(tags).toEqual({ region: 'eu', query: 'a=b', empty: '' });
    expect(tagQuery(tags, 'tag')).toEqual({ 'tag.region': 'eu', 'tag.query': 'a=b', 'tag.empty': '' });
  });

  it('refuses a missing key, a bad key and a key given twice with different values', () => {
    expect(() => parseTagArg('eu')).toThrow(InvalidArgumentError);
    expect(() => parseTagArg('=eu')).toThrow(/key=value/);
    expect(() => parseTagArg('1region=eu')).toThrow(/must match/);
    expect(() => parseTagArg(`${'k'.repeat(129)}=eu`)).toThrow(/at most 128 characters/);
    expect(parseTagArg(`${'k'.repeat(128)}=eu`)).toEqual({ ['k'.repeat(128)]: 'eu' });
    expect(() => parseTagArg('region=us', { region: 'eu' })).toThrow(/twice/);
    expect(parseTagArg('region=eu', { region: 'eu' })).toEqual({ region: 'eu' });
  });
});
