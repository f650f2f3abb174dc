/**
 * Snapshots a killed process left behind, swept by age on an engine of the test's own (the shared one's snapshots
 * belong to the other tests running beside it).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotTakenAt, VictoriaMetrics } from '@terminusa/metric-store';
import { startEngineProcess, waitFor, type EngineProcess } from '@terminusa/testkit';
import { deleteStaleSnapshots } from './stale-snapshots.ts';

let vm: EngineProcess;
let engine: VictoriaMetrics;

beforeAll(async () => {
  vm = await startEngineProcess();
  engine = new VictoriaMetrics({ url: vm.url, durability: 'snapshot', username: 'terminusa', syncIntervalMs: 0, snapshotMaxAge: '24h', namespace: '', timeoutMs: 30_000, rates: 'engine', windowStart: 'excluded' });
});
afterAll(async () => {
  await vm?.cleanup();
});

describe('snapshots left behind', () => {
  it('reads when a snapshot was taken from its name', () => {
    expect(snapshotTakenAt('20261207004719-18EED0B85EE6F824')).toBe(Date.UTC(2026, 11, 7, 0, 47, 19));
    expect(snapshotTakenAt('latest')).toBeUndefined();
  });

  it('deletes those older than the age given, and keeps the younger ones and their files', async () => {
    const older = await engine.createSnapshot();
    // Names tell the second: the next snapshot must be of a later one.
    await waitFor(() => (Date.now() >= snapshotTakenAt(older)! + 1000 ? true : undefined), 5_000, 'the next second');
    const younger = await engine.createSnapshot();
    const olderAt = snapshotTakenAt(older)!;
    const youngerAt = snapshotTakenAt(younger)!;
    expect(youngerAt).toBeGreaterThan(olderAt);

    // Nothing is that old yet at the default age.
    expect(await deleteStaleSnapshots(engine, 24 * 3_600_000)).toEqual([]);
    expect(await engine.listSnapshots()).toEqual([older, younger]);

    // Half a second after the younger one was taken, an age that only the older one has passed.
    expect(await deleteStaleSnapshots(engine, youngerAt - olderAt - 1, youngerAt + 500)).toEqual([older]);
    expect(await engine.listSnapshots()).toEqual([younger]);
    expect(await readdir(join(vm.dataDir, 'snapshots'))).toEqual([younger]);

    // A second run that finds it gone (another replica's run at the same time) is no error.
    await engine.deleteSnapshot(older);
    expect(await deleteStaleSnapshots(engine, 0, youngerAt + 500)).toEqual([younger]);
    expect(await engine.listSnapshots()).toEqual([]);
  });
});
