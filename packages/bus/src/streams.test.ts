/**
 * Binding to streams and consumers made by someone else (the NATS bootstrap), and the per-user inbox prefix:
 * requests, JetStream publish acks and pulled messages of a connection arrive under its `inboxPrefix`.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { waitFor, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { bindConsumer, bindStreams, Bus, consumeBatches, ensureConsumer, ensureStreams, inboxPrefix, SUBJECTS, type JsMsg } from './index.ts';

let ns: TestNamespace;
const conns: NatsConnection[] = [];
const core = { queueSize: 1000, batchSize: 10 };

async function open(options: { inboxPrefix?: string } = {}): Promise<NatsConnection> {
  const nc = await connect({ servers: ns.config.nats.url, ...options });
  conns.push(nc);
  return nc;
}

useTestNamespace((opened) => (ns = opened));
afterAll(async () => {
  await Promise.allSettled(conns.map((c) => c.close()));
});

describe('inboxPrefix', () => {
  it('is _INBOX_<user>, and refuses what is not one subject token', () => {
    expect(inboxPrefix('processor')).toBe('_INBOX_processor');
    expect(inboxPrefix('game-eu')).toBe('_INBOX_game-eu');
    for (const bad of ['', 'a.b', '*', '>', 'a b']) expect(() => inboxPrefix(bad), bad).toThrow();
  });

  it('carries the pulls of a consumer, JetStream publish acks and API answers of the connection', async () => {
    const user = `bustest-${randomBytes(3).toString('hex')}`;
    const nc = await open({ inboxPrefix: inboxPrefix(user) });
    const bus = new Bus(nc, ns.id);
    const jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, bus.ns);
    await ensureConsumer(jsm, bus.ns, 'processor', { ackWaitSeconds: 5, core });

    // Another connection watches the prefix: whatever the server sends to the user's inboxes, it sees too.
    const watcher = await open();
    const seen: { subject: string; reply?: string }[] = [];
    watcher.subscribe(`${inboxPrefix(user)}.>`, { callback: (_e, m) => seen.push({ subject: m.subject, reply: m.reply }) });
    await watcher.flush();

    await bus.persist(SUBJECTS.ingest, ['game'], { samples: [{ name: 'inbox_check', value: 1 }] });
    const got: JsMsg[] = [];
    const consumer = await consumeBatches(bus, 'processor', async (batch) => void got.push(...batch), { maxBatch: 10, lingerMs: 5, retryDelayMs: 100, onError: () => undefined });
    try {
      await waitFor(() => (got.length > 0 ? true : undefined), 10_000, 'the pulled message');
    } finally {
      await consumer.stop();
    }
    // The pulled message was delivered to the prefixed inbox (it keeps its stream subject; its reply is the
    // JetStream ack subject), as were the publish ack and the JetStream API answers.
    await waitFor(() => (seen.some((m) => m.reply?.startsWith(`$JS.ACK.${ns.id}_INGEST.processor.`)) ? true : undefined), 5000, 'the pull seen under the prefix');
    expect(seen.some((m) => m.subject.startsWith(`${inboxPrefix(user)}.`))).toBe(true);
  });
});

describe('bindStreams and bindConsumer', () => {
  it('wait for streams and a consumer someone else makes, telling once what is missing, and change nothing', async () => {
    const nc = await open();
    const bus = new Bus(nc, `${ns.id}b`);
    const jsm = await nc.jetstreamManager();
    const missing: string[] = [];
    // Lookups counted, so the test knows retries happened instead of sleeping and hoping they did.
    const lookup = jsm.streams.info.bind(jsm.streams);
    let lookups = 0;
    jsm.streams.info = (...args: Parameters<typeof lookup>) => {
      lookups++;
      return lookup(...args);
    };
    const bound = bindStreams(jsm, bus.ns, { retryMs: 50, onMissing: (what) => missing.push(what) }).then(() =>
      bindConsumer(jsm, bus.ns, 'storage', { retryMs: 50, onMissing: (what) => missing.push(what) }),
    );
    await waitFor(() => (lookups >= 4 ? true : undefined), 5000, 'three retries of the first missing stream');
    expect(missing).toEqual([`${ns.id}b_INGEST`]);

    // The bootstrap comes along.
    await ensureStreams(jsm, bus.ns);
    // (It may have seen a later stream missing while ensureStreams was still making them, one by one.)
    await waitFor(() => (missing.some((m) => m.endsWith('/storage')) ? true : undefined), 5000, 'the missing consumer');
    expect(missing[0]).toBe(`${ns.id}b_INGEST`);
    expect(missing.at(-1)).toBe(`${ns.id}b_SAMPLES/storage`);
    expect(new Set(missing).size).toBe(missing.length);
    await ensureConsumer(jsm, bus.ns, 'storage', { ackWaitSeconds: 7, core });
    const info = await bound;
    expect(info.config.ack_wait).toBe(7_000_000_000);
    for (const s of ['INGEST', 'SAMPLES', 'DEADLETTER']) await jsm.streams.delete(`${ns.id}b_${s}`);
  });

  it('stop waiting when told to', async () => {
    const nc = await open();
    const jsm = await nc.jetstreamManager();
    const stop = new AbortController();
    const waiting = bindStreams(jsm, new Bus(nc, `${ns.id}c`).ns, { retryMs: 10_000, onMissing: () => stop.abort(), signal: stop.signal });
    await expect(waiting).rejects.toThrow(/abort/i);
  });
});
