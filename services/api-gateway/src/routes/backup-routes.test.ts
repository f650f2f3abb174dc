import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { Bus, CALLS, type ArchiveEntry } from '@terminusa/bus';
import { type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import type { Role } from '../auth/principal.ts';
import { ServiceCaller } from '../http/call-service.ts';
import type { AuditSink } from '../http/route.ts';
import { serveRoutes, TEST_ROLE_HEADER, type RoutesUnderTest } from '../../test-support/routes-under-test.ts';
import { backupRoutes } from './backup-routes.ts';

const ENTRY: ArchiveEntry = { tier: '1m', file: '1m/20260101T000000Z_20260102T000000Z.tsv.gz', from: 1767225600000, to: 1767312000000, rows: 42, bytes: 900, archivedAt: '2026-01-03T00:00:00.000Z' };

let ns: TestNamespace;
let nc: NatsConnection;
let bus: Bus;
let server: RoutesUnderTest;
let base: string;
const audited: Parameters<AuditSink>[0][] = [];
const loads: unknown[] = [];

/** The archive routes mounted as the gateway mounts them, with the role taken from a test header instead of a token. */
useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  nc = await connect({ servers: ns.config.nats.url });
  bus = new Bus(nc, ns.config.nats.prefix);
  server = await serveRoutes(backupRoutes(new ServiceCaller(bus, 1000)), async (entry) => void audited.push(entry));
  base = server.base;
});
afterAll(async () => {
  await server?.close();
  await nc?.close();
});

async function call(method: string, path: string, role: Role | undefined, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(role ? { [TEST_ROLE_HEADER]: role } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json()) as any };
}

describe('archive routes', () => {
  it('answer 503 as problem+json while no storage instance serves the calls', async () => {
    const res = await call('GET', '/archives', 'admin');
    expect(res.status).toBe(503);
    expect(res.type).toContain('application/problem+json');
    expect(res.body.detail).toMatch(/storage service is not running/);
  });

  describe('with a storage responder', () => {
    beforeAll(() => {
      // The storage side of the two calls, answering as the service does (its real handlers need the archive on disk).
      bus.serve(CALLS.archiveList, async () => ({ archives: [ENTRY] }), 'storage');
      bus.serve(
        CALLS.archiveLoad,
        async (req) => {
          loads.push(req);
          return req.tier === '1d' ? { error: 'archive file 1d/x.tsv.gz is missing', code: 'missing-file' } : { rows: 42, files: 1 };
        },
        'storage',
      );
    });

    it('lists the archive for admins only', async () => {
      expect(await call('GET', '/archives', 'admin')).toMatchObject({ status: 200, body: { archives: [ENTRY] } });
      const refused = await call('GET', '/archives', 'operator');
      expect(refused).toMatchObject({ status: 403, body: { detail: 'this needs the admin role; you have operator' } });
      expect((await call('GET', '/archives', undefined)).status).toBe(401);
    });

    it('loads a range given as ISO-8601 or epoch ms, passes who asked, and audits it', async () => {
      const res = await call('POST', '/archives/load', 'admin', { tier: '1m', from: '2026-01-01T00:00:00Z', to: String(ENTRY.to) });
      expect(res).toMatchObject({ status: 200, body: { rows: 42, files: 1 } });
      expect(loads.at(-1)).toEqual({ tier: '1m', from: ENTRY.from, to: ENTRY.to, requestedBy: 'admin-user' });
      expect(audited.at(-1)).toMatchObject({ actor: 'admin-user', action: 'archive-load', target: '/archives/load' });
      expect((await call('POST', '/archives/load', 'admin', { tier: 'raw', from: 0, to: 1000 })).status).toBe(200);
    });

    it('refuses bad input at the edge, naming each wrong field, without calling storage', async () => {
      const before = loads.length;
      const bad = await call('POST', '/archives/load', 'admin', { tier: '2m', from: 'yesterday', to: 5 });
      expect(bad.status).toBe(400);
      expect(bad.type).toContain('application/problem+json');
      expect((bad.body.fields as { field: string }[]).map((f) => f.field).sort()).toEqual(['from', 'tier']);
      const backwards = await call('POST', '/archives/load', 'admin', { tier: '1h', from: 2000, to: 1000 });
      expect(backwards).toMatchObject({ status: 400, body: { fields: [{ field: 'from', reason: 'from must be before to' }] } });
      expect((await call('POST', '/archives/load', 'admin', { tier: '1h', from: 0, to: 1, extra: true })).status).toBe(400);
      expect(loads.length).toBe(before);
      expect((await call('POST', '/archives/load', 'operator', { tier: '1h', from: 0, to: 1 })).status).toBe(403);
    });

    it('turns a refusal by storage into a problem with its code', async () => {
      const res = await call('POST', '/archives/load', 'admin', { tier: '1d', from: 0, to: 1000 });
      expect(res).toMatchObject({ status: 404, body: { detail: 'archive file 1d/x.tsv.gz is missing', code: 'missing-file' } });
    });
  });
});
