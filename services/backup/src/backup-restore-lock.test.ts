import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@terminusa/testkit';
import { whileBackingUp, whileRestoring } from './backup-restore-lock.ts';
import { BackupRestoreBusyError } from './errors.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ applicationName: 'backup-lock-test' });
});
afterAll(() => db?.cleanup());

/** Starts `run` holding its lock until the returned `finish` is called; resolves once it holds it. */
async function holding(run: (work: () => Promise<string>) => Promise<string>): Promise<{ finish: () => void; done: Promise<string> }> {
  let finish!: () => void;
  let inside!: () => void;
  const entered = new Promise<void>((resolve) => (inside = resolve));
  const done = run(async () => {
    inside();
    await new Promise<void>((resolve) => (finish = resolve));
    return 'ran';
  });
  await entered;
  return { finish, done };
}

describe('backups and restores of one database', () => {
  it('let backups run side by side and keep a restore out while one runs', async () => {
    const first = await holding((work) => whileBackingUp(db.pool, work));
    expect(await whileBackingUp(db.pool, async () => 'beside')).toBe('beside');
    await expect(whileRestoring(db.pool, async () => 'restored')).rejects.toBeInstanceOf(BackupRestoreBusyError);
    first.finish();
    expect(await first.done).toBe('ran');
    expect(await whileRestoring(db.pool, async () => 'restored')).toBe('restored');
  });

  it('keep backups and another restore out while a restore runs', async () => {
    const restore = await holding((work) => whileRestoring(db.pool, work));
    await expect(whileBackingUp(db.pool, async () => 'taken')).rejects.toThrow(/a restore into this database is under way/);
    await expect(whileRestoring(db.pool, async () => 'again')).rejects.toBeInstanceOf(BackupRestoreBusyError);
    restore.finish();
    expect(await restore.done).toBe('ran');
    expect(await whileBackingUp(db.pool, async () => 'taken')).toBe('taken');
  });
});
