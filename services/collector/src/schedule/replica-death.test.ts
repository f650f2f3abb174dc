import { writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisOptions } from '@terminusa/runtime';
import { freePort, startServiceProcess, useTestNamespace, waitFor, type ServiceProcess, type TestNamespace } from '@terminusa/testkit';
import { COLLECTOR_QUEUE } from './collector-jobs.ts';

let ns: TestNamespace;
let queue: Queue;
let events: QueueEvents;
/** How each job of the queue ended, by id, as its events tell. */
const ended = new Map<string, { state: 'completed' | 'failed'; reason?: string }>();
const replicas: ServiceProcess[] = [];
const target = createServer((_req, res) => {
  scrapes++;
  // The first scrape never answers: its replica dies while it waits.
  if (scrapes === 1) held = res;
  else res.writeHead(200).end('slow_game_players 3\n');
});
let scrapes = 0;
let held: ServerResponse | undefined;

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  writeFileSync(join(ns.config.dataDir, 'collector.yaml'), `collection:\n  targets:\n    - name: held\n      url: http://127.0.0.1:${(target.address() as AddressInfo).port}/metrics\n`);
  const options = { connection: redisOptions(ns.config, 'commands'), prefix: `${ns.config.redis.prefix}bull` };
  queue = new Queue(COLLECTOR_QUEUE, options);
  events = new QueueEvents(COLLECTOR_QUEUE, { ...options, connection: redisOptions(ns.config, 'blocking') });
  events.on('completed', ({ jobId }) => void ended.set(jobId, { state: 'completed' }));
  events.on('failed', ({ jobId, failedReason }) => void ended.set(jobId, { state: 'failed', reason: failedReason }));
  await events.waitUntilReady();
});

afterAll(async () => {
  for (const r of replicas) r.kill('SIGKILL');
  await Promise.all(replicas.map((r) => r.exited));
  held?.destroy();
  target.closeAllConnections();
  target.close();
  await events?.close();
  await queue?.close();
});

async function startReplica(): Promise<ServiceProcess> {
  const env = {
    ...ns.env,
    CONFIG_FILE: join(ns.config.dataDir, 'collector.yaml'),
    OPS_PORT: String(await freePort()),
    TMON_COLLECTION__MODE: 'jobs',
    TMON_COLLECTION__SCRAPE_SELF: 'false',
    TMON_COLLECTION__INTERVALS__APP: '1',
    // The abandonment is logged at info.
    LOG_LEVEL: 'info',
  };
  const replica = startServiceProcess('collector', env);
  replicas.push(replica);
  return replica;
}

describe('a collector replica that dies in the middle of a scrape', () => {
  it('leaves that scrape missed: no other replica runs it again (the next period’s job scrapes anyway)', async () => {
    const first = await startReplica();
    await waitFor(() => (held ? true : undefined), 30_000, 'the first scrape');
    const [job] = await queue.getActive();
    expect(job?.name).toBe('scrape');
    first.kill('SIGKILL');
    await first.exited;

    // Another replica finds the job's lock run out. Run again, its scrape would be published a period late, beside
    // the scrape of the period it ran in: the same period twice when the dead replica had published already.
    const second = await startReplica();
    expect(await waitFor(() => ended.get(job!.id!), 30_000, 'the dead replica’s job to end')).toEqual({ state: 'completed' });
    // Completed without a scrape: the target saw one request for it, the one the dead replica made.
    const abandoned = await waitFor(() => /"message":"collection job abandoned[^\n]*/.exec(second.output())?.[0], 10_000, 'the abandonment logged');
    expect(abandoned).toContain(`"scheduler":"${job!.repeatJobKey}"`);
    // The replica goes on with the periods after it.
    await waitFor(() => (scrapes >= 3 ? true : undefined), 30_000, 'the next periods’ scrapes');
  }, 90_000);
});
