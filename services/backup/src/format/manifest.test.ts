import { describe, expect, it } from 'vitest';
import { ManifestSchema } from './manifest.ts';

describe('manifest', () => {
  it('reads a table of a manifest written before binary chunks as text', () => {
    const table = { table: 'series', columns: ['id', 'key'], primaryKey: ['id'], rows: 0, chunks: [] };
    const manifest = {
      format: 'terminusa-backup/1', id: 'b1', kind: 'full', createdAt: '2026-01-01T00:00:00.000Z', previous: null, watermark: '1',
      schema: 's', keyId: 'k', signingKeyId: 'sk', tables: [table], files: [], durationMs: 1,
    };
    expect(ManifestSchema.parse(manifest).tables[0]!.encoding).toBe('text');
    expect(ManifestSchema.parse({ ...manifest, tables: [{ ...table, encoding: 'binary' }] }).tables[0]!.encoding).toBe('binary');
    expect(ManifestSchema.safeParse({ ...manifest, tables: [{ ...table, encoding: 'csv' }] }).success).toBe(false);
  });
});
