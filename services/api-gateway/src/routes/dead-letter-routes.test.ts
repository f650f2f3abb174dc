import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { SUBJECTS, type Bus, type DeadLetter } from '@terminusa/bus';
import { useTestBus } from '@terminusa/testkit';
import type { Role } from '../auth/principal.ts';
import type { AuditSink } from '../http/route.ts';
import { serveRoutes, TEST_ROLE_HEADER, type RoutesUnderTest } from '../../test-support/routes-under-test.ts';
import { deadLetterRoutes } from './dead-letter-routes.ts';

let nc: NatsConnection;
let bus: Bus;
let server: RoutesUnderTest;
const audited: Parameters<AuditSink>[0][] = [];

useTestBus((opened) => ({ nc, bus } = opened));
beforeAll(async () => {
  server = await serveRoutes(deadLetterRoutes(bus), async (entry) => void audited.push(entry));
});
afterAll(async () => {
  await server?.close();
});

async function call(method: string, path: string, role: Role | null = 'operator') {
  const res = await fetch(`${server.base}${path}`, { method, headers: role ? { [TEST_ROLE_HEADER]: role } : {} });
  return { status: res.status, body: (await res.json()) as any };
}

const refused = (subject: string, raw: string, extra: Partial<DeadLetter> = {}): DeadLetter => ({
  subject,
  receivedAt: 1_767_225_600_000,
  rejections: [{ index: 0, field: 'samples[0].tags.zone', reason: 'tag values are at most 256 characters' }],
  accepted: 0,
  raw,
  rawEncoding: 'utf8',
  ...extra,
});

/** Stores `letters` in order, as the processor and the storage do; their stream sequences. */
async function store(letters: [source: string, letter: DeadLetter][]): Promise<number[]> {
  const seqs: number[] = [];
  for (const [source, letter] of letters) {
    await bus.persist(SUBJECTS.deadLetter, [source], letter);
    const info = await (await nc.jetstreamManager()).streams.info(bus.ns.stream('DEADLETTER'));
    seqs.push(info.state.last_seq);
  }
  return seqs;
}

describe('dead-letter routes before anything was refused', () => {
  it('answer an empty list (an empty stream\'s first sequence, 0, is not asked for)', async () => {
    expect(await call('GET', '/dead-letters')).toEqual({ status: 200, body: { letters: [] } });
  });
});

describe('dead-letter routes', () => {
  let seqs: number[];
  beforeAll(async () => {
    seqs = await store([
      ['game-a', refused('metrics.ingest.game-a', '{"samples":[{"name":"a","value":1,"tags":{"zone":"…"}}]}')],
      ['game-b', refused('events.game-b.kill', '{"value":1}')],
      ['game-a', refused('metrics.ingest.game-a', '{"samples":[', { rawBytesNotKept: 900_000 })],
      ['_samples', refused('metrics.samples', 'AAEC', { rawEncoding: 'base64' })],
      ['game-a', refused('metrics.ingest.game-a', '{"samples":[{"name":"b","value":2}]}')],
    ]);
  });

  it('lists the refused messages newest first with their reasons and raw bodies, a page at a time, by source if asked', async () => {
    const first = await call('GET', '/dead-letters?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.letters.map((l: { seq: number }) => l.seq)).toEqual([seqs[4], seqs[3]]);
    expect(first.body.letters[0]).toMatchObject({ source: 'game-a', subject: 'metrics.ingest.game-a', raw: '{"samples":[{"name":"b","value":2}]}', rejections: [{ field: 'samples[0].tags.zone' }] });
    expect(first.body.letters[0].storedAt).toBeGreaterThan(Date.now() - 60_000);
    const rest = await call('GET', `/dead-letters?limit=10&before=${first.body.before}`);
    expect(rest.body.letters.map((l: { seq: number }) => l.seq)).toEqual([seqs[2], seqs[1], seqs[0]]);
    expect(rest.body.before).toBeUndefined();
    const ofA = await call('GET', '/dead-letters?source=game-a');
    expect(ofA.body.letters.map((l: { seq: number }) => l.seq)).toEqual([seqs[4], seqs[2], seqs[0]]);
    expect((await call('GET', `/dead-letters/${seqs[1]}`)).body).toMatchObject({ seq: seqs[1], source: 'game-b', subject: 'events.game-b.kill' });
    expect((await call('GET', '/dead-letters/999999')).status).toBe(404);
    expect((await call('GET', '/dead-letters?source=a.b')).body.fields).toEqual([expect.objectContaining({ field: 'source' })]);
  });

  it('replays one to the subject it came on, once: it leaves the dead letters, and the replay is audited', async () => {
    const ingest = await (await nc.jetstreamManager()).streams.info(bus.ns.stream('INGEST')).catch(() => undefined);
    const replayed = await call('POST', `/dead-letters/${seqs[1]}/replay`);
    expect(replayed).toEqual({ status: 202, body: { seq: seqs[1], subject: 'events.game-b.kill' } });
    const after = await (await nc.jetstreamManager()).streams.info(bus.ns.stream('INGEST'));
    expect(after.state.messages).toBe((ingest?.state.messages ?? 0) + 1);
    const message = await (await nc.jetstreamManager()).streams.getMessage(bus.ns.stream('INGEST'), { seq: after.state.last_seq });
    // Dated when the stream first took it, as it would have been.
    expect([message.subject, new TextDecoder().decode(message.data)]).toEqual([bus.ns.subject('events.game-b.kill'), '{"value":1,"ts":1767225600000}']);
    expect((await call('GET', `/dead-letters/${seqs[1]}`)).status).toBe(404);
    expect((await call('POST', `/dead-letters/${seqs[1]}/replay`)).status).toBe(404);
    expect(audited).toEqual([expect.objectContaining({ action: 'dead-letter-replay', detail: expect.objectContaining({ seq: String(seqs[1]), status: 202 }) })]);
  });

  it('refuses to replay a message whose body was cut, or one not refused at intake', async () => {
    const cut = await call('POST', `/dead-letters/${seqs[2]}/replay`);
    expect(cut.status).toBe(409);
    expect(cut.body.detail).toMatch(/900000 bytes were cut/);
    const samples = await call('POST', `/dead-letters/${seqs[3]}/replay`);
    expect(samples.status).toBe(409);
    expect(samples.body.detail).toMatch(/came on metrics\.samples/);
    expect((await call('GET', `/dead-letters/${seqs[3]}`)).status).toBe(200);
  });

  it('is for operators', async () => {
    expect((await call('GET', '/dead-letters', 'viewer')).status).toBe(403);
    expect((await call('POST', `/dead-letters/${seqs[0]}/replay`, 'viewer')).status).toBe(403);
    expect((await call('GET', '/dead-letters', null)).status).toBe(401);
  });
});
