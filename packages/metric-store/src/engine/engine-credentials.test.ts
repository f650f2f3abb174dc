import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngineProcess, type EngineProcess, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { VictoriaMetrics } from './victoria-metrics.ts';

let ns: TestNamespace;
let engine: EngineProcess;
const password = randomBytes(12).toString('hex');
const snapshotKey = randomBytes(12).toString('hex');

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  // As the shipped manifests start it: Basic auth on every API, a key of its own for snapshots and one for deletes.
  engine = await startEngineProcess({ flags: ['-httpAuth.username=terminusa', `-httpAuth.password=${password}`, `-snapshotAuthKey=${snapshotKey}`, `-deleteAuthKey=${randomBytes(12).toString('hex')}`] });
}, 60_000);

afterAll(async () => {
  await engine?.cleanup();
});

const client = (credentials: { password?: string; snapshotKey?: string }) =>
  new VictoriaMetrics({ ...ns.config.storage.engine, url: engine.url, durability: 'snapshot', syncIntervalMs: 0, ...credentials });
const line = (name: string, at: number) => JSON.stringify({ metric: { __name__: name, host: 'h1' }, values: [1], timestamps: [at] });

describe('an engine that asks for credentials', () => {
  it('takes writes, snapshots and reads from the storage’s credentials (password and snapshot key)', async () => {
    const storage = client({ password, snapshotKey });
    const at = Date.now() - 60_000;
    await storage.sync(await storage.import(line('with_credentials', at)));
    expect((await storage.exportAll('{__name__="with_credentials"}', 0, Date.now())).map((s) => s.timestamps)).toEqual([[at]]);
    expect(await storage.listSnapshots()).toEqual([]);
    const answer = await storage.prometheusApi('/api/v1/query', new URLSearchParams({ query: 'with_credentials', time: String(at / 1000) }));
    expect(answer.status).toBe(200);
  });

  it('answers a reader’s password (the gateway’s and the alert-manager’s) but refuses it a snapshot, which would pin every part on disk', async () => {
    const reader = client({ password });
    expect(await reader.query('vector(1)', Date.now())).toEqual([{ metric: {}, value: 1 }]);
    await expect(reader.createSnapshot()).rejects.toThrow('engine /snapshot/create: 400 the engine asks for its snapshot key: set storage.engine.snapshotKey (VM_SNAPSHOT_KEY)');
  });

  it('refuses a client without the password: nothing written, nothing read', async () => {
    const stranger = client({});
    // Its first write asks for a snapshot first (which engine process writes go to): refused as the import would be.
    await expect(stranger.import(line('without_credentials', Date.now()))).rejects.toThrow('401 the engine, or vmauth in front of it, refused the credentials: set storage.engine.username and password (VM_USERNAME, VM_PASSWORD)');
    await expect(new VictoriaMetrics({ ...ns.config.storage.engine, url: engine.url, durability: 'replication' }).import(line('without_credentials', Date.now()))).rejects.toThrow('engine /api/v1/import: 401');
    // The gateway answers it as the engine being unavailable, with the setting to look at, not as a fault of the query.
    await expect(stranger.prometheusApi('/api/v1/query', new URLSearchParams({ query: 'vector(1)' }))).rejects.toThrow('engine /api/v1/query: 401 the engine, or vmauth in front of it, refused the credentials: set storage.engine.username and password (VM_USERNAME, VM_PASSWORD)');
    expect(await client({ password, snapshotKey }).exportAll('{__name__="without_credentials"}', 0, Date.now())).toEqual([]);
  });

  it('deletes nothing for any of the suite’s credentials: no service holds the delete key', async () => {
    await expect(client({ password, snapshotKey }).deleteSeries('{__name__="with_credentials"}')).rejects.toThrow(/delete_series: 400 .*invalid authKey/);
    expect(await client({ password, snapshotKey }).exportAll('{__name__="with_credentials"}', 0, Date.now())).toHaveLength(1);
  });
});
