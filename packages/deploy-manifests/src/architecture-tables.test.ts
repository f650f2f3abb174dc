import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ARCHITECTURE_DOC, describeSchema, renderArchitectureDoc, subjectsOverlap } from './architecture-tables.ts';

describe('the architecture page', () => {
  it('has the subject, call and package tables the code renders (regenerate with pnpm docs:render)', () => {
    const text = readFileSync(ARCHITECTURE_DOC, 'utf8');
    expect(text, 'run pnpm docs:render').toBe(renderArchitectureDoc(text));
  });

  it('refuses a page whose generated block lost its markers', () => {
    expect(() => renderArchitectureDoc('# no markers\n', { subjects: '|a|' })).toThrow(/generated:subjects/);
  });

  it('describes a schema by its fields, optional ones marked, enums and nested objects spelled out', () => {
    const schema = z.strictObject({ name: z.string(), ts: z.number().optional(), kind: z.enum(['a', 'b']), parts: z.array(z.object({ id: z.string() })), ok: z.literal(true).default(true) });
    expect(describeSchema(schema)).toBe('{name, ts?, kind: a\\|b, parts: {id}[], ok?: true}');
    expect(describeSchema(z.union([z.strictObject({ jobId: z.string() }), z.strictObject({ error: z.string() })]))).toBe('{jobId} or {error}');
  });

  it('tells whether two wildcard subjects can name the same subject', () => {
    expect(subjectsOverlap('metrics.ingest.game', 'metrics.ingest.>')).toBe(true);
    expect(subjectsOverlap('events.game.>', 'events.>')).toBe(true);
    expect(subjectsOverlap('tmon.health.storage.*', 'tmon.health.>')).toBe(true);
    expect(subjectsOverlap('metrics.samples', 'metrics.ingest.>')).toBe(false);
    expect(subjectsOverlap('alerts.events', 'alerts.events.x')).toBe(false);
  });
});
