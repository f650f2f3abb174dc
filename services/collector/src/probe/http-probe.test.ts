import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyMatcher, runHttpProbe } from './http-probe.ts';

const dir = mkdtempSync(join(tmpdir(), 'collector-tls-'));
let cert: Buffer;
let https: Server;
let base: string;

beforeAll(async () => {
  // A self-signed certificate valid for 30 days, trusted by the probe through `ca`.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  cert = readFileSync(join(dir, 'cert.pem'));
  https = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (_req, res) => res.end('tls ok'));
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
});

afterAll(() => {
  https?.close();
  rmSync(dir, { recursive: true, force: true });
});

const value = (report: Awaited<ReturnType<typeof runHttpProbe>>, name: string) => report.samples.find((s) => s.name === name)?.value;

describe('runHttpProbe', () => {
  it('records the days left on the server certificate of an https URL', async () => {
    const report = await runHttpProbe({ kind: 'http', name: 'tls', url: `${base}/`, expectStatus: 200, bodyMatch: 'tls ok', tags: {} }, { timeoutMs: 2000, tags: { probe: 'tls' }, ca: cert });
    expect(report.success).toBe(true);
    expect(value(report, 'probe_body_match')).toBe(1);
    expect(value(report, 'probe_tls_cert_days_left')).toBeGreaterThan(29);
    expect(value(report, 'probe_tls_cert_days_left')).toBeLessThanOrEqual(30);
  });

  it('matches the body with an RE2 pattern in linear time, and text that is no pattern literally', () => {
    expect(bodyMatcher('status: (ok|degraded)')('{"status: ok"}')).toBe(true);
    expect(bodyMatcher('^ready$')('not ready')).toBe(false);
    expect(bodyMatcher('a[b')('xa[by')).toBe(true);
    // Backtracking takes minutes on this; RE2 answers at once.
    const started = performance.now();
    expect(bodyMatcher('(a+)+$')(`${'a'.repeat(100_000)}b`)).toBe(false);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('fails on a certificate it does not trust', async () => {
    const report = await runHttpProbe({ kind: 'http', name: 'tls', url: `${base}/`, expectStatus: 200, tags: {} }, { timeoutMs: 2000, tags: {} });
    expect(report.success).toBe(false);
    expect(value(report, 'probe_http_status_code')).toBe(0);
    expect(report.error).toMatch(/SELF_SIGNED|certificate/i);
  });

  it('gives up at the timeout on a server that does not answer', async () => {
    const silent = createHttpServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
      const report = await runHttpProbe({ kind: 'http', name: 'silent', url, expectStatus: 200, tags: {} }, { timeoutMs: 300, tags: {} });
      expect(report).toMatchObject({ success: false, error: 'timed out after 300 ms' });
      expect(value(report, 'probe_duration_seconds')).toBeGreaterThanOrEqual(0.29);
      expect(value(report, 'probe_duration_seconds')).toBeLessThan(1);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});
