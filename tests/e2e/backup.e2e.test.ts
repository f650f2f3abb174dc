import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startSuite, waitFor, STARTUP_MS, type RunningSuite } from '@terminusa/testkit';

let suite: RunningSuite;
let viewerToken: string;
/** The full backup an admin asked for (the restore test restores it: it holds the first admin). */
let requestedFull: string;

const api = (path: string, token: string, init: RequestInit = {}) => suite.api(path, { ...init, token });
const backupsDir = () => join(suite.env.DATA_DIR!, 'backups');
const listed = async () => (await readdir(backupsDir())).filter((d) => !d.startsWith('.')).sort();

beforeAll(async () => {
  suite = await startSuite({
    // Two backup replicas: each scheduled backup must still run once.
    services: ['storage', 'processor', 'backup', 'backup', 'alert-manager'],
    // Every second, so the test sees several scheduled runs; the full one only on New Year.
    env: {
      LOG_LEVEL: 'info',
      TMON_BACKUP__SCHEDULE__INCREMENTAL: '* * * * * *',
      TMON_BACKUP__SCHEDULE__FULL: '0 0 1 1 *',
      TMON_CORE__TIMEOUT: '5',
      ALERT_RULES_FILE: join(process.cwd(), 'deploy', 'config', 'alert-rules.yaml'),
    },
  });
  const created = await suite.api('/users', { method: 'POST', body: JSON.stringify({ username: 'viewer-bob', password: 'viewer-bob-password', role: 'viewer' }) });
  expect(created.status).toBe(201);
  viewerToken = await suite.login('viewer-bob', 'viewer-bob-password');
}, STARTUP_MS + 30_000);

afterAll(() => suite?.stop());

describe('the backup service', () => {
  it('runs each scheduled backup once, however many replicas run', async () => {
    // A backup started before any was complete has nothing to build on and is a full one (a tick comes every second,
    // and under load the first full takes longer); every one started well after the first was complete builds on it.
    const backups = async () => {
      const ids = await listed();
      const manifests = await Promise.all(ids.map(async (id) => JSON.parse(await readFile(join(backupsDir(), id, 'manifest.json'), 'utf8')) as { kind: string; createdAt: string; durationMs: number }));
      const firstDone = Math.min(...manifests.map((m) => Date.parse(m.createdAt) + m.durationMs));
      return { ids, later: manifests.filter((m) => Date.parse(m.createdAt) > firstDone + 2_000) };
    };
    const { ids, later } = await waitFor(async () => {
      const b = await backups();
      return b.ids.length >= 4 && b.later.length >= 2 ? b : undefined;
    }, 60_000, 'scheduled backups after the first was complete', 200);
    expect(later.map((m) => m.kind)).toEqual(later.map(() => 'incremental'));
    // Each backup came from its own scheduler tick (BullMQ job ids carry the tick), none run by both replicas.
    const taken = suite.procs
      .filter((p) => p.name === 'backup')
      .flatMap((p) => p.output().split('\n').filter((l) => l.includes('"message":"backup taken"')))
      .map((l) => JSON.parse(l) as { jobId: string; backupId: string });
    const scheduled = taken.filter((t) => t.jobId.startsWith('repeat:incremental-backup:'));
    expect(scheduled.length).toBeGreaterThanOrEqual(3);
    expect(new Set(scheduled.map((t) => t.jobId)).size).toBe(scheduled.length);
    expect(new Set(taken.map((t) => t.backupId)).size).toBe(taken.length);
    expect(ids).toEqual(expect.arrayContaining(scheduled.map((t) => t.backupId)));
  });

  it('lists, starts and verifies backups through the gateway for admins only', async () => {
    expect((await api('/backups', viewerToken)).status).toBe(403);
    expect((await api('/backups', viewerToken, { method: 'POST', body: '{}' })).status).toBe(403);

    const started = await api('/backups', suite.adminToken, { method: 'POST', body: JSON.stringify({ kind: 'full' }) });
    expect(started.status).toBe(202);
    expect(started.body.jobId).toBeTruthy();
    // The backup its job took (a scheduled one taken before any was complete is a full one too).
    const full = await waitFor(async () => {
      const { body: job } = await api(`/backups/jobs/${started.body.jobId}`, suite.adminToken);
      if (job.state === 'failed') throw new Error(job.failedReason);
      return job.state === 'completed' ? { id: job.result.id as string } : undefined;
    }, 15_000, 'the requested full backup');
    requestedFull = full.id;
    const verified = await api(`/backups/${full.id}/verify`, suite.adminToken, { method: 'POST' });
    expect(verified).toMatchObject({ status: 200, body: { ok: true, rows: expect.any(Number) } });
    expect((await api('/backups/no-such-backup/verify', suite.adminToken, { method: 'POST' })).status).toBe(404);
    expect((await api('/backups/..%2Fetc/verify', suite.adminToken, { method: 'POST' })).status).toBe(400);
    expect((await api('/backups', suite.adminToken, { method: 'POST', body: JSON.stringify({ kind: 'weekly' }) })).body.fields[0].field).toBe('kind');
  });

  it('restores a backup through the gateway into a drill database, with progress, after verifying it', async () => {
    const full = { id: requestedFull };
    const drill = `${suite.ns.id}_drill`;
    expect((await api(`/backups/${full.id}/restore`, suite.adminToken, { method: 'POST', body: JSON.stringify({ intoDatabase: drill }) })).status).toBe(400);
    expect((await api(`/backups/${full.id}/restore`, viewerToken, { method: 'POST', body: JSON.stringify({ confirm: true, intoDatabase: drill }) })).status).toBe(403);
    expect((await api('/backups/no-such-backup/restore', suite.adminToken, { method: 'POST', body: JSON.stringify({ confirm: true, intoDatabase: drill }) })).status).toBe(404);
    const queued = await api(`/backups/${full.id}/restore`, suite.adminToken, { method: 'POST', body: JSON.stringify({ confirm: true, intoDatabase: drill }) });
    expect(queued.status).toBe(202);
    const job = await waitFor(async () => {
      const { body: j } = await api(`/backups/jobs/${queued.body.jobId}`, suite.adminToken);
      if (j.state === 'failed') throw new Error(j.failedReason);
      return j.state === 'completed' ? j : undefined;
    }, 30_000, 'the restore job', 200);
    expect(job.result.backups).toEqual([full.id]);
    // The first admin is a row every backup holds (series rows come only once the rollups have run).
    expect(job.progress.tables.users.rows).toBeGreaterThan(0);
    const url = new URL(suite.env.DATABASE_URL!);
    url.pathname = `/${drill}`;
    const db = new pg.Pool({ connectionString: url.toString(), options: `-c search_path=${suite.env.DATABASE_SCHEMA}` });
    const { rows } = await db.query('SELECT count(*)::int AS n FROM users');
    expect(rows[0].n).toBe(job.progress.tables.users.rows);
    await db.end();
    const admin = new pg.Client({ connectionString: suite.env.DATABASE_URL });
    await admin.connect();
    await waitFor(() => admin.query(`DROP DATABASE IF EXISTS ${drill}`).then(() => true), 10_000, 'drill database dropped', 200);
    await admin.end();
    const audit = await api('/audit?action=backup-restore', suite.adminToken);
    expect(audit.body.entries[0]).toMatchObject({ actor: 'admin', action: 'backup-restore' });
  });

  it('reports a failed scheduled backup as a stored metric and raises the BackupFailed alert', async () => {
    // A file where the backup directory should be makes every backup fail.
    // A scheduled backup may be writing into it right now; retry until it is gone.
    await rm(backupsDir(), { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    await writeFile(backupsDir(), 'not a directory');
    const failed = await waitFor(async () => {
      const { body } = await api('/metrics/current?name=backup_failed&tag.kind=incremental', suite.adminToken);
      return body.values?.[0]?.value === 1 ? body.values[0] : undefined;
    }, 15_000, 'backup_failed = 1');
    expect(failed.tags).toEqual({ kind: 'incremental' });
    const backup = suite.procs.find((p) => p.name === 'backup' && p.output().includes('"message":"backup failed"'))!;
    expect(backup).toBeDefined();
    const alert = await waitFor(async () => {
      const { body } = await api('/alerts/active?severity=critical', suite.adminToken);
      return body.alerts?.find((a: { rule: string }) => a.rule === 'BackupFailed');
    }, 15_000, 'the BackupFailed alert');
    expect(alert).toMatchObject({ state: 'firing', labels: { kind: 'incremental' }, summary: 'The incremental backup failed' });
    await rm(backupsDir(), { force: true });
  });

  it('leaves no listed backup when killed mid-way', async () => {
    const db = new pg.Pool({ connectionString: suite.env.DATABASE_URL, options: `-c search_path=${suite.env.DATABASE_SCHEMA}` });
    await db.query(`INSERT INTO series (key, name, tags) SELECT 'kill_test{i="' || g || '"}', 'kill_test', jsonb_build_object('i', g::text) FROM generate_series(1, 100) g`);
    // 300,000 1-minute rollup rows (3,000 minutes of 100 series): enough for a backup that takes a while.
    await db.query(
      `INSERT INTO rollup_1m (series_id, bucket, count, sum, min, max, last, last_ts)
       SELECT s.id, b, 60, g, g, g, g, b + interval '59 seconds'
         FROM series s CROSS JOIN generate_series(1, 3000) g CROSS JOIN LATERAL to_timestamp(g * 60) b
        WHERE s.name = 'kill_test'`,
    );
    await db.end();
    const cliEnv = { ...suite.env, DATA_DIR: join(suite.env.DATA_DIR!, 'cli'), TMON_BACKUP__CHUNK_BYTES: '65536' };
    const { spawn } = await import('node:child_process');
    const cli = spawn(process.execPath, [join(process.cwd(), 'services/backup/bin/tmon-backup.mjs'), 'run'], { env: { PATH: process.env.PATH ?? '', ...cliEnv }, stdio: 'ignore' });
    const dir = join(cliEnv.DATA_DIR, 'backups');
    await waitFor(async () => {
      const entries = await readdir(dir).catch(() => []);
      const tmp = entries.find((e) => e.startsWith('.tmp-'));
      return tmp && (await readdir(join(dir, tmp))).length >= 2 ? true : undefined;
    }, 20_000, 'the backup to be half-written', 5);
    cli.kill('SIGKILL');
    await new Promise((r) => cli.once('exit', r));
    expect((await readdir(dir)).filter((d) => !d.startsWith('.'))).toEqual([]);
  });
});
