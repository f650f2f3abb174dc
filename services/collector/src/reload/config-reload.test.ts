import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { ingestBodySamples, startServiceProcess, useTestNamespace, waitFor, type ServiceProcess, type TestNamespace } from '@terminusa/testkit';

let ns: TestNamespace;
let nc: NatsConnection;
let server: Server;
let base: string;
let configFile: string;
let collector: ServiceProcess;
/** Scrape time of each `up` sample, per scraped job. */
const ups = new Map<string, number[]>();

const target = (name: string) => `    - name: ${name}\n      url: ${base}/${name}/metrics\n`;
const writeConfig = (text: string) => writeFileSync(configFile, text);
const scrapedSince = (job: string, since: number) => (ups.get(job) ?? []).filter((at) => at >= since).length;

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  server = createServer((req, res) => res.writeHead(200).end(req.url?.endsWith('/metrics') ? 'work_total 1\n' : 'ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  configFile = join(ns.env.DATA_DIR!, 'collector.yaml');
  writeConfig(`collection:\n  scrapeSelf: false\n  targets:\n${target('first')}`);
  nc = await connect({ servers: ns.config.nats.url });
  nc.subscribe(`${ns.id}.metrics.ingest.scrape`, {
    callback: (_err, msg) => {
      for (const sample of ingestBodySamples(msg.data)) {
        if (sample.name === 'up') ups.set(sample.tags!.job!, [...(ups.get(sample.tags!.job!) ?? []), sample.ts!]);
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
    await waitFor(() => (scrapedSince('first', since) >= 2 && scrapedSince('second', since) >= 2 ? true : undefined), 10_000, 'both targets scraped twice more', 100);

    writeConfig('collection: [unclosed');
    await waitFor(() => (collector.output().match(/configuration file refused/g)?.length === 2 ? true : undefined), 10_000, 'the unparsable file refused', 100);
    const later = Date.now();
    await waitFor(() => (scrapedSince('first', later) >= 1 && scrapedSince('second', later) >= 1 ? true : undefined), 10_000, 'both targets scraped again', 100);
    expect(collector.child.exitCode).toBeNull();
  });

  it('stops scraping a target taken out of the file', async () => {
    writeConfig(`collection:\n  scrapeSelf: false\n  targets:\n${target('second')}`);
    await waitFor(() => (collector.output().match(/configuration file reloaded/g)?.length === 2 ? true : undefined), 10_000, 'the third version loaded', 100);
    // A job of the removed scheduler already taken when the reload applied may still run: one period of grace.
    const since = Date.now() + 1000;
    // The remaining target's scrapes are the sentinel: two more periods have passed through the queue.
    await waitFor(() => (scrapedSince('second', since) >= 2 ? true : undefined), 10_000, 'the remaining target scraped twice more', 100);
    expect(scrapedSince('first', since)).toBe(0);
  });
});
