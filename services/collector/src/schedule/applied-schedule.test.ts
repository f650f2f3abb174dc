import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { Registry } from 'prom-client';
import { Bus } from '@terminusa/bus';
import type { Config } from '@terminusa/config';
import { createLogger } from '@terminusa/runtime';
import { freePort, useTestNamespace, waitFor, type TestNamespace } from '@terminusa/testkit';
import { createCollectorMetrics } from '../collector-metrics.ts';
import { AppliedSchedule } from './applied-schedule.ts';
import { startCollectorJobs, type CollectorJobs } from './collector-jobs.ts';

let ns: TestNamespace;
let nc: NatsConnection;
let closedPort: number;
const replicas: CollectorJobs[] = [];

// Long periods: the test looks at the schedulers, not at the scrapes (of a port nothing listens on).
useTestNamespace((opened) => (ns = opened), { collection: { intervals: { app: 60, custom: 60 }, mode: 'jobs', scrapeSelf: false } });
beforeAll(async () => {
  nc = await connect({ servers: ns.config.nats.url });
  closedPort = await freePort();
});

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await nc?.close();
});

/** The configuration with targets `names`, as a replica's file would give it. */
function withTargets(...names: string[]): Readonly<Config> {
  return { ...ns.config, collection: { ...ns.config.collection, targets: names.map((name) => ({ name, url: `http://127.0.0.1:${closedPort}/${name}/metrics`, healthPath: '/health', tags: {} })) } };
}

async function startReplica(config: Readonly<Config>, name: string): Promise<CollectorJobs> {
  const bus = new Bus(nc, ns.config.nats.prefix);
  const logger = createLogger(ns.config.log, { service: 'collector', instance: name });
  const replica = await startCollectorJobs({ config, bus, redis: ns.redis(), logger, metrics: createCollectorMetrics(new Registry()), publish: async () => 0 });
  replicas.push(replica);
  return replica;
}

const schedulers = async (replica: CollectorJobs) => (await replica.queue.getJobSchedulers(0, -1)).map((s) => s.key).sort();

describe('replicas whose configuration files differ for a while (a ConfigMap reaching pods a minute apart)', () => {
  it('follow the configuration loaded last: an older one’s periodic check neither removes nor re-adds a target', async () => {
    const old = await startReplica(withTargets('lobby'), 'old');
    const updated = await startReplica(withTargets('lobby', 'match'), 'updated');
    expect(await schedulers(old)).toEqual(['scrape:lobby', 'scrape:match']);
    // Before: the old replica's check removed `match` (with staleness markers), the updated one's added it again.
    expect(await old.check()).toEqual({ added: [], updated: [], removed: [], restarted: [] });
    expect(await schedulers(old)).toEqual(['scrape:lobby', 'scrape:match']);

    // A target removed by the newest file stays removed, whatever the older one still lists.
    await updated.applyConfig(withTargets('lobby'));
    await old.check();
    expect(await schedulers(old)).toEqual(['scrape:lobby']);

    // Once the old replica's file catches up (its watcher applies it), both check as before.
    expect((await old.applyConfig(withTargets('lobby'))).removed).toEqual([]);
    expect(await updated.check()).toEqual({ added: [], updated: [], removed: [], restarted: [] });
    await old.queue.removeJobScheduler('scrape:lobby');
    expect((await updated.check()).added).toEqual(['scrape:lobby']);
  });

  it('keep the latest load time of a configuration: a check by a replica that loaded it earlier lets no older one back in', async () => {
    const first = await startReplica(withTargets('arena'), 'first');
    // Restarted with a file not yet updated (loaded after `first`), then `first`'s peer loads the current one.
    const stale = await startReplica(withTargets('arena', 'retired'), 'stale');
    await startReplica(withTargets('arena'), 'current');
    expect(await schedulers(first)).toEqual(['scrape:arena']);
    // `first` holds the current configuration too, loaded before `stale`'s: its check must not make room for it.
    await first.check();
    expect(await stale.check()).toEqual({ added: [], updated: [], removed: [], restarted: [] });
    expect(await schedulers(first)).toEqual(['scrape:arena']);
  });

  it('let a claim no running replica renews lapse, and then the next check takes the schedulers', async () => {
    // Long enough that the refused claim and the pttl check below come well before the claim they look at lapses.
    const holdMs = 2_000;
    const record = new AppliedSchedule(ns.redis(), `${ns.config.redis.prefix}lapse:schedule`, holdMs);
    const current = { digest: 'current', loadedAt: 1000 };
    // An old replica restarted in a rollout (its load the latest) and was then replaced: nobody renews its claim.
    await record.claim({ digest: 'old', loadedAt: 2000 }, true);
    expect(await record.claim(current, false)).toEqual({ digest: 'old', loadedAt: 2000 });
    await waitFor(async () => ((await ns.redis().exists(`${ns.config.redis.prefix}lapse:schedule`)) === 0 ? true : undefined), holdMs + 10_000, 'the claim to lapse');
    expect(await record.claim(current, false)).toBeUndefined();
    // Renewed by every check of the replica that holds it.
    expect(await ns.redis().pttl(`${ns.config.redis.prefix}lapse:schedule`)).toBeGreaterThan(0);
  });
});
