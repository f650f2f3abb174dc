import { describe, expect, it } from 'vitest';
import { formatBytes, formatCsv, formatNumber, formatTable, formatTags, formatTime } from './output.ts';

describe('formatTable', () => {
  it('aligns columns under capitalised headers, without trailing spaces', () => {
    expect(formatTable({ headers: ['name', 'value'], rows: [['players_online', '1234'], ['up', '1']] })).toBe('NAME            VALUE\nplayers_online  1234\nup              1\n');
  });

  it('prints only the headers of an empty table', () => {
    expect(formatTable({ headers: ['id', 'rule'], rows: [] })).toBe('ID  RULE\n');
  });
});

describe('formatCsv', () => {
  it('quotes cells with commas, quotes or line breaks, with CRLF line ends', () => {
    const csv = formatCsv({ headers: ['time', 'region', 'value'], rows: [['2026-01-01T00:00:00.000Z', 'eu,west', '1'], ['t', 'say "hi"', 'a\nb']] });
    expect(csv).toBe('time,region,value\r\n2026-01-01T00:00:00.000Z,"eu,west",1\r\nt,"say ""hi""","a\nb"\r\n');
  });
});

describe('cell formats', () => {
  it('formats times, tags, numbers and sizes', () => {
    expect(formatTime(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(formatTime(undefined)).toBe('');
    expect(formatTags({ region: 'eu', shard: '7' })).toBe('region=eu,shard=7');
    expect(formatNumber(0.1 + 0.2)).toBe('0.3');
    expect(formatNumber(1234)).toBe('1234');
    expect(formatNumber(null)).toBe('');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
  });
});
