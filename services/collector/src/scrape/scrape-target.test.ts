import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrapeTarget } from './scrape-target.ts';

let server: Server;
let port: number;
beforeAll(async () => {
  // Loopback only: reached by its host's name only when the scrape dials loopback for it.
  server = createServer((req, res) => (req.url === '/metrics' ? res.writeHead(200).end('self_work_total 3\n') : res.writeHead(200).end('ok')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => server?.close());

describe('a discovered instance on the scraping replica’s own host', () => {
  it('is dialled over loopback and keeps its host in the instance tag, whichever replica scrapes it', async () => {
    const origin = `http://${hostname()}:${port}`;
    const report = await scrapeTarget({ job: 'storage', url: `${origin}/metrics`, healthUrl: `${origin}/health`, tags: {}, loopbackOnOwnHost: true }, { timeoutMs: 5000, staticTags: {}, limits: { bodyBytes: 1 << 20, samples: 1000 } });
    expect(report.error).toBeUndefined();
    expect(report.up).toBe(true);
    expect(report.healthy).toBe(true);
    expect(report.samples.find((s) => s.name === 'self_work_total')?.tags).toEqual({ job: 'storage', instance: `${hostname()}:${port}` });
  });
});

describe('a discovered instance on another host', () => {
  it('is dialled at the address it advertised (a pod IP; its pod name does not resolve) and keeps its host in the instance tag', async () => {
    const origin = `http://pod-that-does-not-resolve.invalid:${port}`;
    const target = { job: 'processor', url: `${origin}/metrics`, healthUrl: `${origin}/health`, tags: {}, loopbackOnOwnHost: true, dialAddress: '127.0.0.1' };
    const report = await scrapeTarget(target, { timeoutMs: 5000, staticTags: {}, limits: { bodyBytes: 1 << 20, samples: 1000 } });
    expect(report.error).toBeUndefined();
    expect(report.up).toBe(true);
    expect(report.samples.find((s) => s.name === 'self_work_total')?.tags).toEqual({ job: 'processor', instance: `pod-that-does-not-resolve.invalid:${port}` });
  });
});
