import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import type { IngestSample } from '@terminusa/bus';
import { discoverInstances } from '@terminusa/runtime';
import { ingestBodySamples, startServiceProcess, useTestNamespace, waitFor, type ServiceProcess, type TestNamespace } from '@terminusa/testkit';
import { COLLECTOR_QUEUE } from './collector-jobs.ts';

const TARGETS = ['alpha', 'beta', 'gamma'];
/** The app scrape interval the replicas run with (TMON_COLLECTION__INTERVALS__APP). */
const INTERVAL_MS = 1000;
/** The collectors' metrics token: their scrapes of each other (the suite's own instances) must show it. */
const METRICS_TOKEN = 'metrics-token-of-the-job-spreading-test';

let ns: TestNamespace;
let nc: NatsConnection;
let server: Server;
const replicas: ServiceProcess[] = [];
/** `up` samples per scraped job, in the order they arrived. */
const ups = new Map<string, IngestSample[]>();

const upsSince = (job: string, since: number) => (ups.get(job) ?? []).filter((s) => s.ts! >= since);

/**
 * The first `count` `up` samples of `job` stamped at or after `since`, by time. It waits for one more than that, so a
 * second scrape of the last period's job, from another replica, would have arrived too.
 */
const scrapesFrom = (job: string, since: number, count: number) =>
  waitFor(() => {
    const seen = upsSince(job, since).sort((a, b) => a.ts! - b.ts!);
    return seen.length > count ? seen.slice(0, count) : undefined;
  }, 30_000, `${count + 1} scrapes of ${job}`);

/**
 * Where the periods of `job`'s scheduler start, as an offset into a whole interval: BullMQ runs a scheduler `every` an
 * interval from its first run, so every run time (the score of its next one in the queue's `repeat` set among them)
 * leaves the same remainder.
 */
async function periodPhase(job: string): Promise<number> {
  const next = await ns.redis().zscore(`${ns.config.redis.prefix}bull:${COLLECTOR_QUEUE}:repeat`, `scrape:${job}`);
  expect(next, `the scheduler of ${job}`).not.toBeNull();
  return Number(next) % INTERVAL_MS;
}

/**
 * Checks the scrapes came one per period of the target's scheduler: no period scraped twice, as two replicas running
 * the same period's job would, and on average no more than 1.6 periods apart, so none doubled and few skipped. A
 * scrape is stamped when it starts, at or after its period's run time, so a job picked up late still counts in its
 * own period unless it started a whole interval late. The gaps between the stamps do not tell: a job picked up late
 * and the next one on time come close together without any period running twice.
 */
async function expectOnePerInterval(job: string, seen: IngestSample[]) {
  const phase = await periodPhase(job);
  const periods = seen.map((s) => Math.floor((s.ts! - phase) / INTERVAL_MS));
  const why = `${job} periods ${periods.join(',')} (phase ${phase} ms), gaps ${seen.slice(1).map((s, i) => s.ts! - seen[i]!.ts!).join(',')} ms`;
  expect(new Set(periods).size, why).toBe(seen.length);
  // Distinct, in order: so at least one period apart on average.
  expect((periods.at(-1)! - periods[0]!) / (periods.length - 1), why).toBeLessThanOrEqual(1.6);
}

/** Sum of `tmon_collector_jobs_run_total` on each live replica's ops server, by instance. */
async function jobsRunPerReplica(): Promise<Map<string, number>> {
  const runs = new Map<string, number>();
  for (const instance of (await discoverInstances(nc, ns.id)).filter((i) => i.service === 'collector')) {
    const text = await (await fetch(`http://127.0.0.1:${instance.opsPort}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    runs.set(instance.instance, [...text.matchAll(/^tmon_collector_jobs_run_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0));
  }
  return runs;
}

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  server = createServer((req, res) => {
    const job = req.url?.split('/')[1] ?? '';
    if (req.url?.endsWith('/metrics')) res.writeHead(200).end(`# TYPE ${job}_work_total counter\n${job}_work_total 1\n`);
    else res.writeHead(200).end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const configFile = join(ns.env.DATA_DIR!, 'collector.yaml');
  writeFileSync(configFile, `collection:\n  targets:\n${TARGETS.map((t) => `    - name: ${t}\n      url: ${base}/${t}/metrics\n`).join('')}`);
  nc = await connect({ servers: ns.config.nats.url });
  nc.subscribe(`${ns.id}.metrics.ingest.scrape`, {
    callback: (_err, msg) => {
      for (const sample of ingestBodySamples(msg.data)) {
        if (sample.name === 'up') ups.set(sample.tags!.job!, [...(ups.get(sample.tags!.job!) ?? []), sample]);
      }
    },
  });
  const env = { ...ns.env, CONFIG_FILE: configFile, OPS_PORT: '0', TMON_COLLECTION__MODE: 'jobs', TMON_COLLECTION__INTERVALS__APP: String(INTERVAL_MS / 1000), OPS_METRICS_TOKEN: METRICS_TOKEN };
  for (let i = 0; i < 3; i++) replicas.push(startServiceProcess('collector', env));
  await waitFor(async () => ((await discoverInstances(nc, ns.id)).filter((i) => i.service === 'collector').length === 3 ? true : undefined), 60_000, 'three collector replicas', 250);
  await waitFor(() => (TARGETS.every((t) => (ups.get(t)?.length ?? 0) > 0) ? true : undefined), 20_000, 'every target scraped');
}, 90_000);

afterAll(async () => {
  for (const replica of replicas) replica.kill('SIGKILL');
  server?.closeAllConnections();
  server?.close();
  await nc?.close();
});

describe('scrape jobs spread over three collector replicas', () => {
  it('scrapes each target once per interval, with the work shared by more than one replica', async () => {
    const since = Date.now();
    for (const target of TARGETS) {
      const seen = await scrapesFrom(target, since, 6);
      expect(seen.every((s) => s.value === 1)).toBe(true);
      await expectOnePerInterval(target, seen);
    }
    const runs = await jobsRunPerReplica();
    expect(runs.size).toBe(3);
    expect([...runs.values()].filter((n) => n > 0).length, JSON.stringify([...runs])).toBeGreaterThanOrEqual(2);
    // The suite's own instances are scraped too, through discovery: here, the three collectors, up only if the
    // scrapes showed the metrics token (their /metrics refuses any other request).
    const selfScrapes = await scrapesFrom('collector', since, 3);
    expect(selfScrapes.map((s) => s.value)).toEqual([1, 1, 1]);
  }, 60_000);

  it('keeps scraping every target within a few intervals after a replica is SIGKILLed', async () => {
    const victim = replicas[0]!;
    victim.kill('SIGKILL');
    expect(await victim.exited).toBe('SIGKILL');
    const killedAt = Date.now();
    for (const target of TARGETS) {
      const first = (await scrapesFrom(target, killedAt, 1))[0]!;
      // Normally within an interval or two (a dead replica's lock lasts one period); five leave room for a busy machine,
      // still far short of anything waiting for the dead replica to come back.
      expect(first.ts! - killedAt, target).toBeLessThanOrEqual(5 * INTERVAL_MS);
      // Once the dead replica's locks ran out, still one scrape per interval.
      await expectOnePerInterval(target, await scrapesFrom(target, killedAt + 2000, 4));
    }
    const runs = await jobsRunPerReplica();
    expect(runs.size).toBe(2);
    expect([...runs.values()].every((n) => n > 0)).toBe(true);
  }, 60_000);
});
