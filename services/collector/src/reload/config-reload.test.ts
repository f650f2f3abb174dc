import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import type { IngestSample } from '@terminusa/bus';
import { createTestNamespace, startServiceProcess, waitFor, type ServiceProcess, type TestNamespace } from '@terminusa/testkit';

let ns: TestNamespace;
let nc: NatsConnection;
let server: Server;
let base: string;
let configFile: string;
let collector: ServiceProcess;
/** Receipt time of each `up` sample, per scraped job. */
const ups = new Map<string, number[]>();

const target = (name: string) => `    - name: ${name}\n      url: ${base}/${name}/metrics\n`;
const writeConfig = (text: string) => writeFileSync(configFile, text);
const scrapedSince = (job: string, since: number) => (ups.get(job) ?? []).filter((at) => at >= since).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  server = createServer((req, res) => res.writeHead(200).end(req.url?.endsWith('/metrics') ? 'work_total 1\n' : 'ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ns = await createTestNamespace();
  configFile = join(ns.env.DATA_DIR!, 'collector.yaml');
  writeConfig(`collection:\n  scrapeSelf: false\n  targets:\n${target('first')}`);
  nc = await connect({ servers: ns.config.nats.url });
  nc.subscribe(`${ns.id}.metrics.ingest.scrape`, {
    callback: (_err, msg) => {
      for (const sample of (JSON.parse(new TextDecoder().decode(msg.data)) as { samples: IngestSample[] }).samples) {
        if (sample.name === 'up') ups.set(sample.tags!.job!, [...(ups.get(sample.tags!.job!) ?? []), Date.now()]);
      }
    },
  });
  collector = startServiceProcess('collector', { ...ns.env, CONFIG_FILE: configFile, OPS_PORT: '0', LOG_LEVEL: 'info', TMON_COLLECTION__MODE: 'jobs', TMON_COLLECTION__INTERVALS__APP: '1' });
  await waitFor(() => (scrapedSince('first', 0) > 0 ? true : undefined), 60_000, 'the first target scraped', 100);
}, 90_000);

afterAll(async () => {
  collector?.kill('SIGKILL');
  server?.closeAllConnections();
  server?.close();
  await nc?.close();
  await ns?.cleanup();
});

describe('configuration file reload', () => {
  it('adds a target written to the file, without a restart', async () => {
    writeConfig(`collection:\n  scrapeSelf: false\n  targets:\n${target('first')}${target('second')}`);
    await waitFor(() => (scrapedSince('second', 0) > 0 ? true : undefined), 10_000, 'the new target scraped', 100);
    expect(collector.child.exitCode).toBeNull();
    expect(collector.output()).toContain('configuration file reloaded');
  });

  it('refuses a broken file and keeps scraping the targets it had', async () => {
    writeConfig(`collection:\n  scrapeSelf: false\n  targets:\n    - name: not a valid name!\n      url: nowhere\n`);
    await waitFor(() => (collector.output().includes('configuration file refused') ? true : undefined), 10_000, 'the broken file refused', 100);
    expect(collector.output()).toContain('collection.targets.0.name');
    const since = Date.now();
    await sleep(3000);
    expect(scrapedSince('first', since)).toBeGreaterThanOrEqual(2);
    expect(scrapedSince('second', since)).toBeGreaterThanOrEqual(2);

    writeConfig('collection: [unclosed');
    await waitFor(() => (collector.output().match(/configuration file refused/g)?.length === 2 ? true : undefined), 10_000, 'the unparsable file refused', 100);
    const later = Date.now();
    await sleep(2500);
    expect(scrapedSince('first', later)).toBeGreaterThanOrEqual(1);
    expect(scrapedSince('second', later)).toBeGreaterThanOrEqual(1);
    expect(collector.child.exitCode).toBeNull();
  });

  it('stops scraping a target taken out of the file', async () => {
    writeConfig(`collection:\n  scrapeSelf: false\n  targets:\n${target('second')}`);
    await waitFor(() => (collector.output().match(/configuration file reloaded/g)?.length === 2 ? true : undefined), 10_000, 'the third version loaded', 100);
    await sleep(1500);
    const since = Date.now();
    await sleep(2500);
    expect(scrapedSince('first', since)).toBe(0);
    expect(scrapedSince('second', since)).toBeGreaterThanOrEqual(2);
  });
});
