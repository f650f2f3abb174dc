import { describe, expect, it } from 'vitest';
import { engineRetentionDays } from './engine-retention.ts';
import { loadConfig } from './load-config.ts';

describe('engineRetentionDays', () => {
  it('keeps the raw retention in whole days and a day more, so a sample taken at the edge is still inside when it is written', () => {
    const days = (raw: string) => engineRetentionDays(loadConfig({ env: { TMON_STORAGE__RETENTION__RAW: raw } }));
    expect(engineRetentionDays(loadConfig({ env: {} }))).toBe(2);
    expect(days('36h')).toBe(3);
    expect(days('10m')).toBe(2);
    expect(days('30d')).toBe(31);
  });
});
