import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSuite, type RunningSuite } from '@terminusa/testkit';

let suite: RunningSuite;

/** The gateway alone, on the real PostgreSQL and Redis: a NUL that reached them was a 500. */
beforeAll(async () => {
  suite = await startSuite({ services: [] });
});
afterAll(async () => {
  await suite?.stop();
});

const fields = (body: { fields?: { field: string }[] }) => body.fields?.map((f) => f.field);

describe('text PostgreSQL cannot store (NUL), in the admin routes and the public sign-in', () => {
  it('POST /auth/login answers 400 naming username, not 500, and still 401 to a wrong password', async () => {
    const login = (username: string) => suite.api('/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: 'not-the-password' }), token: '' });
    const nul = await login('a\u0000');
    expect(nul.status).toBe(400);
    expect(fields(nul.body)).toEqual(['username']);
    expect(nul.body.fields[0].reason).toMatch(/NUL/);
    expect((await login('admin')).status).toBe(401);
  });

  it('POST /api-keys answers 400 naming name, not 500, and takes a plain name', async () => {
    const create = (name: string) => suite.api('/api-keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, role: 'viewer' }) });
    const nul = await create('ci\u0000key');
    expect(nul.status).toBe(400);
    expect(fields(nul.body)).toEqual(['name']);
    expect((await create('ci-key')).status).toBe(201);
  });

  it('GET /audit answers 400 naming actor or action, not 500, and lists with plain ones', async () => {
    for (const [query, field] of [['actor=a%00b', 'actor'], ['action=user%00create', 'action']] as const) {
      const res = await suite.api(`/audit?${query}`);
      expect(res.status, query).toBe(400);
      expect(fields(res.body), query).toEqual([field]);
    }
    const listed = await suite.api('/audit?actor=admin&action=api-key-create');
    expect(listed.status).toBe(200);
    expect(listed.body.entries.length).toBeGreaterThan(0);
  });
});
