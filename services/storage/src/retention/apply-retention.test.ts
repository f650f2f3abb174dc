import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { whileLocked } from '@terminusa/database';
import { COVERAGE_GRACE_MS, PartitionManager, tierRetentionMs, VictoriaMetrics } from '@terminusa/metric-store';
import { createTestDatabase, waitFor, type TestDatabase } from '@terminusa/testkit';
import { ArchiveIndex } from '../archive/archive-index.ts';
import { applyRetention } from './apply-retention.ts';

let db: TestDatabase;
let dir: string;
beforeAll(async () => {
  db = await createTestDatabase({ applicationName: 'retention-test' });
  dir = await mkdtemp(join(tmpdir(), 'tmon-retention-'));
});
afterAll(async () => {
  await db?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('a retention run', () => {
  it('leaves the work to a run already going (another replica, or tmon-storage retention), and runs once it is over', async () => {
    const run = () => applyRetention(db.pool, new VictoriaMetrics(db.ns.config.storage.engine), new PartitionManager(db.pool), new ArchiveIndex(dir), tierRetentionMs(db.ns.config));
    let acquired!: () => void;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const holding = whileLocked(db.pool, 'terminusa-retention', async () => {
      acquired();
      await held;
      return 'ran';
    });
    await new Promise<void>((resolve) => (acquired = resolve));
    // An hourly 1m partition of a day ago, past the 1m tier's retention: a run drops it.
    const partitions = new PartitionManager(db.pool);
    const dayAgo = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 24 * 3_600_000;
    await partitions.ensure('1m', dayAgo, dayAgo + 1);
    const old = (await partitions.list('1m')).filter((p) => p.to <= dayAgo + 3_600_000).map((p) => p.name);
    expect(old).toHaveLength(1);
    // While another run holds the lock, this one returns at once and drops nothing.
    expect(await run()).toEqual({ dropped: [], archived: 0, deletedFromDefault: 0, snapshotsDeleted: [] });
    expect((await partitions.list('1m')).map((p) => p.name)).toEqual(expect.arrayContaining(old));
    release();
    expect(await holding).toBe('ran');
    // Once it is over, the next run does the work.
    expect((await run()).dropped).toEqual(old);
  });

  it('keeps rows past retention that the next tier has not been computed from yet, and drops them once it has', async () => {
    const run = () => applyRetention(db.pool, new VictoriaMetrics(db.ns.config.storage.engine), new PartitionManager(db.pool), new ArchiveIndex(dir), { ...tierRetentionMs(db.ns.config), '1m': 2 * 3_600_000 });
    const partitions = new PartitionManager(db.pool);
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    // Both wholly past retention and its grace minute (the newer ends 3 h before this hour), whatever the minute now.
    const [sixHoursAgo, fourHoursAgo] = [hour - 6 * 3_600_000, hour - 4 * 3_600_000];
    await partitions.ensure('1m', sixHoursAgo, sixHoursAgo + 1);
    await partitions.ensure('1m', fourHoursAgo, fourHoursAgo + 1);
    const named = async (at: number) => (await partitions.list('1m')).find((p) => p.from === at)!.name;
    const [older, newer] = [await named(sixHoursAgo), await named(fourHoursAgo)];
    // The 5m cascade is behind (an engine outage, a long catch-up): computed up to five hours ago.
    const { rows } = await db.pool.query<{ until: Date }>("SELECT until FROM rollup_watermarks WHERE tier = '5m'");
    await db.pool.query("UPDATE rollup_watermarks SET until = $1 WHERE tier = '5m'", [new Date(hour - 5 * 3_600_000)]);
    try {
      const first = await run();
      expect(first.dropped).toContain(older);
      expect(first.dropped).not.toContain(newer);
      expect((await partitions.list('1m')).map((p) => p.name)).toContain(newer);
    } finally {
      await db.pool.query("UPDATE rollup_watermarks SET until = $1 WHERE tier = '5m'", [rows[0]!.until]);
    }
    expect((await run()).dropped).toContain(newer);
  });

  it('keeps a tier’s partition for a minute past its retention, as long as history reads may still use it', async () => {
    const retention = { ...tierRetentionMs(db.ns.config), '1m': 2 * 3_600_000 };
    const run = (now: number) => applyRetention(db.pool, new VictoriaMetrics(db.ns.config.storage.engine), new PartitionManager(db.pool), new ArchiveIndex(dir), retention, { now });
    const partitions = new PartitionManager(db.pool);
    const start = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 10 * 3_600_000;
    await partitions.ensure('1m', start, start + 1);
    const name = (await partitions.list('1m')).find((p) => p.from === start)!.name;
    const end = start + 3_600_000;
    // 30 s past retention: a read of "the last 2 hours" aligned down to its minute starts in this partition.
    expect((await run(end + retention['1m'] + 30_000)).dropped).not.toContain(name);
    expect((await partitions.list('1m')).map((p) => p.name)).toContain(name);
    expect((await run(end + retention['1m'] + COVERAGE_GRACE_MS)).dropped).toContain(name);
  });

  it('keeps the 5m and 1h tiers an hour past their retention, for a late sample’s recompute that decided to read them', async () => {
    const retention = tierRetentionMs(db.ns.config);
    const run = (now: number) => applyRetention(db.pool, new VictoriaMetrics(db.ns.config.storage.engine), new PartitionManager(db.pool), new ArchiveIndex(dir), retention, { now });
    const partitions = new PartitionManager(db.pool);
    const day = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 5 * 86_400_000;
    await partitions.ensure('5m', day, day + 1);
    const name = (await partitions.list('5m')).find((p) => p.from === day)!.name;
    const end = (await partitions.list('5m')).find((p) => p.from === day)!.to;
    // A late sample in the partition's last hour, a day old, is recomputed from it until an hour past that.
    expect((await run(end + retention['5m'] + COVERAGE_GRACE_MS + 30 * 60_000)).dropped).not.toContain(name);
    expect((await partitions.list('5m')).map((p) => p.name)).toContain(name);
    expect((await run(end + retention['5m'] + COVERAGE_GRACE_MS + 3_600_000)).dropped).toContain(name);
  });

  it('drops nothing, and writes no archive file, once it is told its lock is gone; removes temporary files a killed run left a day ago', async () => {
    const partitions = new PartitionManager(db.pool);
    const dayAgo = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 24 * 3_600_000;
    await partitions.ensure('1m', dayAgo, dayAgo + 1);
    const old = (await partitions.list('1m')).filter((p) => p.to <= dayAgo + 3_600_000).map((p) => p.name);
    expect(old).toHaveLength(1);
    const index = new ArchiveIndex(dir);
    const stale = join(dir, '1m', 'x.tsv.gz.00000000-0000-4000-8000-000000000000.tmp');
    await mkdir(join(dir, '1m'), { recursive: true });
    await writeFile(stale, 'half a file');
    await utimes(stale, new Date(Date.now() - 2 * 86_400_000), new Date(Date.now() - 2 * 86_400_000));
    const lost = new Error('the advisory lock terminusa-retention was lost with its connection');
    const entriesBefore = await index.entries();
    await expect(
      applyRetention(db.pool, new VictoriaMetrics(db.ns.config.storage.engine), partitions, index, tierRetentionMs(db.ns.config), { held: () => Promise.reject(lost) }),
    ).rejects.toBe(lost);
    expect((await partitions.list('1m')).map((p) => p.name)).toEqual(expect.arrayContaining(old));
    expect(await index.entries()).toEqual(entriesBefore);
    await expect(stat(stale)).rejects.toMatchObject({ code: 'ENOENT' });
    // Told nothing, the next run does the work.
    expect((await applyRetention(db.pool, new VictoriaMetrics(db.ns.config.storage.engine), partitions, index, tierRetentionMs(db.ns.config))).dropped).toEqual(old);
  });

  it('writes no index entry for an archive file whose export outlasted its lock (another run holds it and writes the index)', async () => {
    const partitions = new PartitionManager(db.pool);
    const dayAgo = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 30 * 3_600_000;
    await partitions.ensure('1m', dayAgo, dayAgo + 1);
    const index = new ArchiveIndex(dir);
    const entriesBefore = await index.entries();
    // Held when the export begins, lost by the time it is written: the next question is refused.
    let asked = 0;
    const lost = new Error('the advisory lock terminusa-retention was lost with its connection');
    const held = async () => {
      if (++asked > 1) throw lost;
    };
    await expect(applyRetention(db.pool, new VictoriaMetrics(db.ns.config.storage.engine), partitions, index, tierRetentionMs(db.ns.config), { held })).rejects.toBe(lost);
    expect(asked).toBe(2);
    expect(await index.entries()).toEqual(entriesBefore);
    // The run holding the lock archives and drops it.
    expect((await applyRetention(db.pool, new VictoriaMetrics(db.ns.config.storage.engine), partitions, index, tierRetentionMs(db.ns.config))).dropped.length).toBeGreaterThan(0);
  });

  it('learns that its lock was lost with its connection before its next unit of work, so another run cannot overlap it', async () => {
    const name = 'terminusa-lock-test';
    const lockHolder = async () =>
      (
        await db.pool.query<{ pid: number }>(
          "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND objid::bigint = (hashtext($1 || ':' || current_schema())::bigint & 4294967295)",
          [name],
        )
      ).rows.map((r) => r.pid);
    const outcome = await whileLocked(db.pool, name, async (held) => {
      await held();
      const [pid] = await lockHolder();
      expect(pid).toBeDefined();
      await db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
      // Terminating is asked, not done: under load the backend answered one more query before it went.
      await waitFor(async () => ((await db.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 0 ? true : undefined), 10_000, 'the lock holder gone');
      return held().then(
        () => 'still held',
        (err: Error) => err.message,
      );
    });
    expect(outcome).toMatch(/^the advisory lock terminusa-lock-test was lost with its connection/);
    // Free for the next run, on a connection of the pool that works.
    expect(await lockHolder()).toEqual([]);
    expect(await whileLocked(db.pool, name, async () => 'ran')).toBe('ran');
  });
});
