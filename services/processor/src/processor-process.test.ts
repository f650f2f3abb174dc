import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { startServiceProcess, waitFor, type ServiceProcess, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { DeadLetterSchema, decodeSampleBatch, type DeadLetter, type SamplePart } from '@terminusa/bus';

// The processor as a real process in its own namespace: game events in, counter samples out; bad input to the
// dead-letter stream with its reasons.
let ns: TestNamespace;
let proc: ServiceProcess;
let nc: NatsConnection;
let opsPort: number;
/** Every part (the samples of one ingest message) the processor forwarded. */
const batches: SamplePart[] = [];
const letters: DeadLetter[] = [];
/** Every SAMPLES message: its size and the ids of its parts. */
const bodies: { bytes: number; ids: string[] }[] = [];
const encode = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

async function collect<T>(stream: string, parse: (data: Uint8Array) => T[], into: T[]): Promise<void> {
  const consumer = await nc.jetstream().consumers.get(stream);
  const messages = await consumer.consume();
  void (async () => {
    for await (const m of messages) into.push(...parse(m.data));
  })();
}

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  proc = startServiceProcess('processor', { ...ns.env, OPS_PORT: '0', LOG_LEVEL: 'info', TMON_INGEST__MAX_SERIES_PER_METRIC: '3', TMON_CORE__WORKERS: '2' });
  opsPort = await waitFor(() => {
    const port = /"opsPort":(\d+)/.exec(proc.output())?.[1];
    if (!port && proc.child.exitCode !== null) throw new Error(`processor exited: ${proc.output()}`);
    return port ? Number(port) : undefined;
  }, 30_000, 'the processor to start', 100);
  nc = await connect({ servers: ns.config.nats.url });
  const decode = (data: Uint8Array) => JSON.parse(new TextDecoder().decode(data)) as unknown;
  await collect(`${ns.id}_SAMPLES`, (d) => decodeSampleBatch(d).parts, batches);
  await collect(`${ns.id}_DEADLETTER`, (d) => [DeadLetterSchema.parse(decode(d))], letters);
  await collect(`${ns.id}_SAMPLES`, (d) => [{ bytes: d.length, ids: decodeSampleBatch(d).parts.map((p) => p.id) }], bodies);
}, 60_000);

afterAll(async () => {
  if (proc && proc.child.exitCode === null) proc.kill('SIGKILL');
  await nc?.close();
});

const samplesNamed = (name: string) => batches.flatMap((b) => b.samples.filter((s) => s.name === name));
const letterOn = (subject: string) => waitFor(() => letters.find((l) => l.subject === subject), 10_000, `a dead letter for ${subject}`);

describe('the processor as a process', () => {
  it('reports Redis among its dependencies', async () => {
    const health = (await (await fetch(`http://127.0.0.1:${opsPort}/health`)).json()) as { status: string; checks: Record<string, { ok: boolean }> };
    expect(health.checks.redis).toMatchObject({ ok: true });
    expect(health.status).toBe('ok');
  });

  it('turns game events into events_total and events_value_total samples on metrics.samples', async () => {
    const subject = `${ns.id}.events.game.match_started`;
    for (const value of [3, undefined, 4]) nc.publish(subject, encode({ tags: { map: 'dust' }, ...(value === undefined ? {} : { value }) }));
    await nc.flush();
    const tags = { map: 'dust', source: 'game', type: 'match_started' };
    const counts = await waitFor(() => {
      const found = samplesNamed('events_total');
      return found.length >= 3 ? found : undefined;
    }, 10_000, 'three events_total samples');
    expect(counts.map((s) => s.tags)).toEqual([tags, tags, tags]);
    expect(counts.map((s) => s.value).sort()).toEqual([1, 2, 3]);
    expect(batches.find((b) => b.samples.some((s) => s.name === 'events_total'))!.source).toBe('game');
    const sums = samplesNamed('events_value_total');
    expect(sums.map((s) => s.value).sort()).toEqual([3, 7]);
    for (const s of [...counts, ...sums]) expect(Math.abs(s.ts - Date.now())).toBeLessThan(60_000);
  });

  it('dead-letters a too-far-future and a too-old sample with their reasons while the good ones go on', async () => {
    const now = Date.now();
    nc.publish(
      `${ns.id}.metrics.ingest.window`,
      encode({
        samples: [
          { name: 'window_good', value: 1, ts: now - 1000 },
          { name: 'window_future', value: 2, ts: now + 3_600_000 },
          { name: 'window_old', value: 3, ts: now - 2 * 86_400_000 },
          { name: 'window_good', value: 4, tags: { k: 'v' } },
        ],
      }),
    );
    await nc.flush();
    const letter = await letterOn('metrics.ingest.window');
    expect(letter.accepted).toBe(2);
    expect(letter.rejections).toEqual([
      { index: 1, field: 'samples[1].ts', reason: expect.stringMatching(/^too far in the future: .*ingest\.maxFutureMs/) },
      { index: 2, field: 'samples[2].ts', reason: expect.stringMatching(/^too old: .*storage\.retention\.raw/) },
    ]);
    const good = await waitFor(() => {
      const found = samplesNamed('window_good');
      return found.length === 2 ? found : undefined;
    }, 10_000, 'the good samples');
    expect(good.map((s) => s.value).sort()).toEqual([1, 4]);
    expect(samplesNamed('window_future')).toEqual([]);
    expect(samplesNamed('window_old')).toEqual([]);
  });

  it('dead-letters bad events with their reasons', async () => {
    nc.publish(`${ns.id}.events.game.broken`, encode('{"value": '));
    nc.publish(`${ns.id}.events.game.typed`, encode({ value: 'lots' }));
    nc.publish(`${ns.id}.events.game`, encode({}));
    await nc.flush();
    expect((await letterOn('events.game.broken')).rejections[0]).toMatchObject({ field: '(message)', reason: expect.stringContaining('malformed JSON') });
    expect((await letterOn('events.game.typed')).rejections[0]).toMatchObject({ field: 'value', reason: expect.stringContaining('expected number') });
    expect((await letterOn('events.game')).rejections[0]).toMatchObject({ field: 'subject', reason: expect.stringContaining('unknown subject') });
  });

  it('refuses new series past the limit per metric, counts them, and keeps passing known ones', async () => {
    const series = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ name: 'card_test', value: 1, tags: { shard: String(from + i) } }));
    nc.publish(`${ns.id}.metrics.ingest.card`, encode({ samples: series(0, 5) }));
    await nc.flush();
    const letter = await letterOn('metrics.ingest.card');
    expect(letter.accepted).toBe(3);
    expect(letter.rejections.map((r) => [r.field, r.reason.startsWith('cardinality limit: card_test already has 3 series')])).toEqual([
      ['samples[3]', true],
      ['samples[4]', true],
    ]);
    const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    expect(metrics).toMatch(/^tmon_processor_cardinality_rejections_total\{[^}]*metric="card_test"[^}]*\} 2$/m);

    nc.publish(`${ns.id}.metrics.ingest.card2`, encode({ samples: series(0, 3) }));
    await nc.flush();
    await waitFor(() => (batches.some((b) => b.source === 'card2' && b.samples.length === 3) ? true : undefined), 10_000, 'known series to pass');
  });

  it('splits a batch larger than the max payload of the server over several SAMPLES messages, each ingest message once', async () => {
    // 12 messages of ~180 KB (100 samples of one series with long tags each): a batch of six or more of them
    // is past the 1 MiB max payload, and a publish that large would fail and leave the batch redelivered forever.
    const tags = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`t${i}`, 'x'.repeat(200)]));
    const t0 = Date.now() - 60_000;
    for (let m = 0; m < 12; m++) {
      nc.publish(`${ns.id}.metrics.ingest.big`, encode({ samples: Array.from({ length: 100 }, (_, i) => ({ name: `big_${m}`, value: i, ts: t0 + i, tags })) }));
    }
    await nc.flush();
    const parts = await waitFor(() => {
      const found = batches.filter((b) => b.source === 'big');
      return found.length >= 12 ? found : undefined;
    }, 20_000, 'the 12 large messages forwarded');
    const ids = new Set(parts.map((p) => p.id));
    expect(ids.size).toBe(12);
    expect(parts.map((p) => p.samples.length)).toEqual(Array(12).fill(100));
    // The raw bodies arrive on their own consumer, which may trail the parsed parts.
    const carrying = await waitFor(() => {
      const found = bodies.filter((b) => b.ids.some((id) => ids.has(id)));
      return found.flatMap((b) => b.ids).filter((id) => ids.has(id)).length >= ids.size ? found : undefined;
    }, 20_000, 'the bodies carrying the 12 messages');
    expect(carrying.length).toBeGreaterThan(1);
    for (const body of carrying) expect(body.bytes).toBeLessThanOrEqual(nc.info!.max_payload);
    expect(carrying.flatMap((b) => b.ids).sort()).toEqual([...ids].sort());
  });

  it('dead-letters a message of 10,000 refused samples within the max payload, and goes on with the next', async () => {
    nc.publish(`${ns.id}.metrics.ingest.allbad`, encode({ samples: Array.from({ length: 10_000 }, (_, i) => ({ name: 'all_bad', value: `v${i}` })) }));
    nc.publish(`${ns.id}.metrics.ingest.afterbad`, encode({ samples: [{ name: 'after_bad', value: 1 }] }));
    await nc.flush();
    const letter = await letterOn('metrics.ingest.allbad');
    expect(letter.accepted).toBe(0);
    expect(letter.rejections[0]).toMatchObject({ index: 0, field: 'samples[0].value', reason: expect.stringContaining('expected number') });
    expect(letter.rejections.length + (letter.rejectionsNotListed ?? 0)).toBe(10_000);
    expect(letter.raw.length + (letter.rawBytesNotKept ?? 0)).toBe(Buffer.byteLength(JSON.stringify({ samples: Array.from({ length: 10_000 }, (_, i) => ({ name: 'all_bad', value: `v${i}` })) })));
    await waitFor(() => (samplesNamed('after_bad').length === 1 ? true : undefined), 10_000, 'the next message forwarded');
  });

  it('refuses tag keys longer than 128 characters, and counts every refused key under one folded field, a key holding a newline too', async () => {
    const long = 'k'.repeat(200_000);
    const samples = [{ 'a\nb': 'v' }, { 'c\nd': 'v' }, { [long]: 'v' }, { ['k'.repeat(128)]: 'v' }].map((tags, i) => ({ name: 'key_test', value: i, tags }));
    nc.publish(`${ns.id}.metrics.ingest.keys`, encode({ samples }));
    await nc.flush();
    const letter = await letterOn('metrics.ingest.keys');
    expect(letter.accepted).toBe(1);
    expect(letter.rejections.map((r) => r.field.slice(0, 20))).toEqual(['samples[0].tags.a\nb', 'samples[1].tags.c\nd', 'samples[2].tags.kkkk']);
    expect(letter.rejections[2]!.reason).toMatch(/at most 128 characters/);
    const counted = await waitFor(async () => {
      const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      return /^tmon_processor_rejections_total\{[^}]*field="samples\[\]\.tags\.\*"[^}]*\} 3$/m.test(text) ? text : undefined;
    }, 10_000, 'the three refused keys counted under samples[].tags.*');
    expect(counted).not.toMatch(/^tmon_processor_rejections_total\{[^}]*field="[^"]*(\\n|kkkk)/m);
    // Its log line quotes the long key cut short, not 200 KB of it.
    const line = proc.output().split('\n').find((l) => l.includes('rejected metric input') && l.includes('kkkk'));
    expect(line).toMatch(/more characters/);
    expect(line!.length).toBeLessThan(10_000);
  });

  it('stops cleanly on SIGTERM', async () => {
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(proc.output()).toContain('"message":"stopped"');
  });
});
