import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import express from 'express';
import { answerCompression } from './answer-compression.ts';

let server: Server;
let base: string;
/** An answer well over the 4 KB threshold. */
const LARGE = { values: Array.from({ length: 2_000 }, (_, i) => [i, i / 3]) };

beforeAll(async () => {
  const app = express();
  app.use(answerCompression());
  app.get('/metrics/history', (_req, res) => void res.json(LARGE));
  app.post('/api/v1/query', (_req, res) => void res.json(LARGE));
  app.post('/auth/login', (_req, res) => void res.json({ token: 'secret', ...LARGE }));
  app.get('/small', (_req, res) => void res.json({ ok: true }));
  server = createServer(app).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function encodingOf(method: string, path: string, accept = 'gzip, deflate'): Promise<string | null> {
  const res = await fetch(`${base}${path}`, { method, headers: { 'accept-encoding': accept } });
  expect(await res.json()).toBeTruthy();
  return res.headers.get('content-encoding');
}

describe('answer compression', () => {
  it('compresses large reads and PromQL queries for a client that accepts it', async () => {
    expect(await encodingOf('GET', '/metrics/history')).toBe('gzip');
    expect(await encodingOf('POST', '/api/v1/query')).toBe('gzip');
    expect(await encodingOf('GET', '/metrics/history', 'identity')).toBeNull();
  });

  it('leaves small answers and other writes as they are: a sign-in answer carries a secret (BREACH)', async () => {
    expect(await encodingOf('GET', '/small')).toBeNull();
    expect(await encodingOf('POST', '/auth/login')).toBeNull();
  });
});
