import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '@terminusa/config';
import { createLogger } from '@terminusa/runtime';
import { BackupOperations } from './backup-operations.ts';
import { reportSetup } from './report-setup.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmon-backup-setup-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the report with `env` and returns what it logged. */
async function report(env: Record<string, string>): Promise<{ level: string; message: string }[]> {
  const config = loadConfig({ env: { DATA_DIR: dir, ...env } });
  const logger = createLogger(config.log, { service: 'backup', instance: 'setup-test' });
  // The logger is a stream of what it logs, as its transports get it.
  const lines: { level: string; message: string }[] = [];
  logger.on('data', (info: { level: string; message: string }) => lines.push(info));
  // The report reads the keyring only; no database is asked.
  await reportSetup(config, new BackupOperations(config, undefined as never), logger);
  return lines;
}

describe('the backup service’s report at start', () => {
  it('warns once that backups hold no raw samples when the single-node engine’s data is not mounted', async () => {
    const lines = await report({});
    expect(lines.map((l) => l.message)).toEqual(['backup keys ready', expect.stringContaining('backups hold no raw samples')]);
    expect(lines[1]!.level).toBe('warn');
  });

  it('says nothing more when the engine’s data directory is set', async () => {
    const lines = await report({ TMON_BACKUP__ENGINE_DATA_DIR: join(dir, 'vm') });
    expect(lines.map((l) => l.message)).toEqual(['backup keys ready']);
  });
});
