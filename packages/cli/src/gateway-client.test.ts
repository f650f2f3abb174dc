import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { freePort } from '@terminusa/testkit';
import { EXIT } from './exit-codes.ts';
import type { CliError } from './errors.ts';
import { GatewayClient } from './gateway-client.ts';

let server: Server;
let base: string;
const seen: { url: string; authorization?: string; body: string }[] = [];

/** Answers `/status/<n>` with a problem document of that status, `/html` with a page, anything else with what it got. */
beforeAll(async () => {
  server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    seen.push({ url: req.url!, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), body });
    const status = /^\/status\/(\d+)/.exec(req.url!)?.[1];
    if (status) {
      res.writeHead(Number(status), { 'content-type': 'application/problem+json' });
      return res.end(JSON.stringify({ status: Number(status), title: 'x', detail: `detail ${status}`, ...(status === '400' ? { fields: [{ field: 'step', reason: 'expected a duration' }] } : {}) }));
    }
    if (req.url === '/html') return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>');
    // Headers, part of a body, then the connection gone: a gateway restarting mid-answer.
    if (req.url === '/broken') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"ok":');
      return setTimeout(() => res.socket?.destroy(), 20);
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, n: 1 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => void server.close());

const code = (p: Promise<unknown>) => p.then(() => EXIT.ok, (err: CliError) => err.exitCode);

describe('GatewayClient', () => {
  const client = () => new GatewayClient(base, { token: 'tok' });

  it('takes an answer that breaks off after its headers for an unreachable gateway (exit 3), not a crash', async () => {
    await expect(client().get('/broken', z.unknown())).rejects.toMatchObject({ exitCode: EXIT.unreachable, message: expect.stringMatching(/^cannot reach the gateway at /) });
  });

  it('sends the bearer token, query parameters and a JSON body, and validates the answer', async () => {
    expect(await client().request('POST', '/x', z.object({ ok: z.boolean() }), { query: { name: 'm', 'tag.region': 'eu', skip: undefined }, body: { a: 1 } })).toEqual({ ok: true });
    expect(seen.at(-1)).toEqual({ url: '/x?name=m&tag.region=eu', authorization: 'Bearer tok', body: '{"a":1}' });
    await expect(client().get('/x', z.object({ ok: z.string() }))).rejects.toThrow(/unexpected answer to GET \/x/);
    await expect(client().get('/html', z.unknown())).rejects.toThrow(/other than JSON/);
  });

  it('maps each failure to its exit code, with the gateway\'s detail', async () => {
    expect(await code(client().get('/status/401', z.unknown()))).toBe(EXIT.unauthenticated);
    await expect(client().get('/status/401', z.unknown())).rejects.toThrow('the gateway refused the credential (detail 401); run tmon login');
    expect(await code(client().get('/status/403', z.unknown()))).toBe(EXIT.forbidden);
    expect(await code(client().get('/status/404', z.unknown()))).toBe(EXIT.notFound);
    await expect(client().get('/status/400', z.unknown())).rejects.toThrow('GET /status/400 refused: detail 400\n  step: expected a duration');
    expect(await code(client().get('/status/400', z.unknown()))).toBe(EXIT.usage);
    expect(await code(client().get('/status/503', z.unknown()))).toBe(EXIT.unreachable);
    expect(await code(client().get('/status/500', z.unknown()))).toBe(EXIT.failure);
    expect(await code(client().get('/status/503', z.unknown(), { answers: [503] }))).toBe(EXIT.ok);
  });

  it('refuses without a call when there is no credential, unless the route is public', async () => {
    const before = seen.length;
    const anonymous = new GatewayClient(base, { missing: 'not logged in' });
    await expect(anonymous.get('/x', z.unknown())).rejects.toThrow('not logged in; run tmon login');
    expect(seen.length).toBe(before);
    expect(await anonymous.get('/x', z.object({ n: z.number() }), { anonymous: true })).toEqual({ n: 1 });
    expect(seen.at(-1)!.authorization).toBeUndefined();
  });

  it('says which gateway it cannot reach, and refuses a URL that is not one', async () => {
    const port = await freePort();
    const down = new GatewayClient(`http://127.0.0.1:${port}`, { token: 't' });
    await expect(down.get('/x', z.unknown())).rejects.toMatchObject({ exitCode: EXIT.unreachable, message: `cannot reach the gateway at http://127.0.0.1:${port}: ECONNREFUSED` });
    expect(() => new GatewayClient('localhost:8080', { token: 't' })).toThrow(/not an http\(s\) URL/);
    expect(() => new GatewayClient('not a url', { token: 't' })).toThrow(/not an http\(s\) URL/);
  });
});
