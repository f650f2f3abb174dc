import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, consumerOpts, type NatsConnection } from 'nats';
import { freePort, ingestPipelineIdle, startServiceProcess, waitFor, type ServiceProcess, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { DeadLetterSchema, encodeSampleBatch, type DeadLetter } from '@terminusa/bus';

const SERVICES = ['storage', 'processor', 'alert-manager', 'backup', 'collector', 'api-gateway'] as const;
const ADMIN_PASSWORD = 'e2e-admin-password-0123';

let ns: TestNamespace;
let env: Record<string, string>;
let nc: NatsConnection;
let base: string;
let token: string;
const procs = new Map<string, ServiceProcess>();


function start(name: string): ServiceProcess {
  const proc = startServiceProcess(name, env);
  procs.set(name, proc);
  return proc;
}

async function api(path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  return { status: res.status, body: await res.json() };
}

const encode = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const ingest = (source: string) => `${ns.id}.metrics.ingest.${source}`;

/** The raw points of `name` from the last hour (inside raw retention, so answered sample by sample). */
async function storedPoints(name: string): Promise<[string, number][]> {
  const { status, body } = await api(`/metrics/history?name=${name}&from=${Date.now() - 3_600_000}&to=${Date.now() + 60_000}`);
  expect(body.tier).toBe('raw');
  expect(status).toBe(200);
  return (body.series as { tags: Record<string, string>; points: [number, number][] }[]).flatMap((s) => s.points.map(([ts]) => [JSON.stringify(s.tags), ts] as [string, number]));
}

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  const port = await freePort();
  env = { ...ns.env, GATEWAY_PORT: String(port), GATEWAY_HOST: '127.0.0.1', OPS_PORT: '0', ADMIN_PASSWORD, SHUTDOWN_TIMEOUT: '10', LOG_LEVEL: 'info',
    // Messages a killed replica held are redelivered after the ack wait (core.timeout); short here so the test is quick.
    TMON_CORE__TIMEOUT: '3' };
  base = `http://127.0.0.1:${port}`;
  nc = await connect({ servers: ns.config.nats.url });
  for (const name of SERVICES) start(name);
  await waitFor(
    async () => {
      const res = await fetch(`${base}/health`);
      const body = (await res.json()) as { status: string };
      return body.status === 'ok' ? body : undefined;
    },
    60_000,
    'every service to be up',
    250,
  );
  const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
  token = ((await login.json()) as { token: string }).token;
}, 90_000);

afterAll(async () => {
  for (const proc of procs.values()) proc.kill('SIGKILL');
  await nc?.close();
});

describe('the first path, end to end', () => {
  it('says only up or down at /health without a token, and every service instance and dependency at /health/details with one', async () => {
    type Details = { status: string; dependencies: Record<string, { ok: boolean }>; services: Record<string, { instances: number; live: { opsPort: number }[] }> };
    // Discovery counts the instances that answer within its window: on a loaded machine one may answer a report late
    // (degraded), so the public status and the details are read until a report finds them all (a report is reused for
    // a second). Every answer of the public probe is the status alone.
    const open = await waitFor(async () => {
      const res = await fetch(`${base}/health`);
      expect(res.status).toBe(200);
      const answer = (await res.json()) as { status: string };
      expect(Object.keys(answer)).toEqual(['status']);
      return answer.status === 'ok' ? answer : undefined;
    }, 20_000, 'the public health probe ok', 500);
    expect(open).toEqual({ status: 'ok' });
    expect((await fetch(`${base}/health/details`)).status).toBe(401);
    const body = await waitFor(async () => {
      const res = await fetch(`${base}/health/details`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      const details = (await res.json()) as Details;
      // The status counts a service seen in the last seconds as up; its instance list is this report's own.
      return details.status === 'ok' && SERVICES.every((name) => details.services[name]?.instances === 1) ? details : undefined;
    }, 20_000, 'a health report with every service up', 500);
    expect(body.status).toBe('ok');
    expect(Object.keys(body.dependencies).sort()).toEqual(['engine', 'nats', 'postgres', 'redis']);
    expect(Object.values(body.dependencies).every((d) => d.ok)).toBe(true);
    for (const name of SERVICES) expect(body.services[name]!.instances, name).toBe(1);
    const ops = body.services.storage!.live[0]!.opsPort;
    const health = await fetch(`http://127.0.0.1:${ops}/health`);
    expect(((await health.json()) as { checks: object }).checks).toHaveProperty('postgres');
    const metrics = await (await fetch(`http://127.0.0.1:${ops}/metrics`)).text();
    expect(metrics).toContain('tmon_storage_samples_stored_total');
  }, 60_000);

  it('refuses metric reads without a token', async () => {
    const res = await fetch(`${base}/metrics/current?name=players_online`);
    expect(res.status).toBe(401);
  });

  it('shows a sample published by hand at /metrics/current', async () => {
    nc.publish(ingest('game'), encode({ samples: [{ name: 'players_online', value: 1234, tags: { region: 'eu', shard: '7' } }] }));
    const values = await waitFor(async () => {
      const { body } = await api('/metrics/current?name=players_online&tag.region=eu');
      return body.values.length > 0 ? body.values : undefined;
    }, 30_000, 'the sample at /metrics/current');
    expect(values).toEqual([{ name: 'players_online', tags: { region: 'eu', shard: '7' }, value: 1234, ts: expect.any(Number) }]);
    expect(Math.abs(values[0].ts - Date.now())).toBeLessThan(60_000);
  }, 60_000);

  it("stores this host's system metrics from the collector", async () => {
    const values = await waitFor(async () => {
      const { body } = await api('/metrics/current?name=system_cpu_usage_percent&tag.cpu=total');
      return body.values.length > 0 ? body.values : undefined;
    }, 15_000, 'collector metrics');
    expect(values[0].tags.host).toBeTruthy();
    expect(values[0].value).toBeGreaterThanOrEqual(0);
  });

  it('stores 10,000 samples from 100 messages exactly once, through a SIGKILL of processor and storage mid-stream', async () => {
    // Recent: samples older than raw retention are refused.
    const t0 = Date.now() - 600_000;
    const message = (m: number) => ({
      samples: Array.from({ length: 100 }, (_, i) => ({ name: 'e2e_load', value: m * 100 + i, ts: t0 + m, tags: { series: String(i) } })),
    });
    for (let m = 0; m < 50; m++) nc.publish(ingest('loadtest'), encode(message(m)));
    await nc.flush();
    await waitFor(async () => ((await storedPoints('e2e_load')).length > 0 ? true : undefined), 15_000, 'first samples stored', 20);
    const storage = procs.get('storage')!;
    const processor = procs.get('processor')!;
    storage.kill('SIGKILL');
    processor.kill('SIGKILL');
    expect(await storage.exited).toBe('SIGKILL');
    expect(await processor.exited).toBe('SIGKILL');
    for (let m = 50; m < 100; m++) nc.publish(ingest('loadtest'), encode(message(m)));
    await nc.flush();
    start('processor');
    start('storage');
    const points = await waitFor(async () => {
      const p = await storedPoints('e2e_load');
      return p.length >= 10_000 ? p : undefined;
    }, 30_000, 'all 10,000 samples stored');
    expect(points).toHaveLength(10_000);
    expect(new Set(points.map(([tags, ts]) => `${tags}@${ts}`)).size).toBe(10_000);
    // Nothing more arrives later: once the processor and storage consumers have nothing pending or unacknowledged
    // (what the killed replicas held was delivered again and done), the count stays exact.
    const jsm = await nc.jetstreamManager();
    await waitFor(() => ingestPipelineIdle(jsm, ns.config.nats.prefix), 30_000, 'the processor and storage consumers drained', 100);
    expect(await storedPoints('e2e_load')).toHaveLength(10_000);
  }, 60_000);

  it('rejects bad input on the bus with its reason on the dead-letter subject, keeps the good samples, and stays up', async () => {
    const bad: [string, Uint8Array, string][] = [
      ['malformed JSON', encode('{"samples": [{"name": "a", "value": 1}'), 'malformed JSON'],
      ['NaN literal', encode('{"samples":[{"name":"a","value":NaN}]}'), 'malformed JSON'],
      ['missing samples', encode({ metrics: [] }), 'samples'],
      ['oversized', encode({ samples: [{ name: 'a', value: 1, tags: { pad: 'x'.repeat(600_000) } }] }), 'exceeds the limit'],
    ];
    for (const [, payload] of bad) nc.publish(ingest('badinput'), payload);
    nc.publish(`${ns.id}.metrics.ingest.too.many.tokens`, encode({ samples: [{ name: 'a', value: 1 }] }));
    nc.publish(ingest('mixed'), encode({ samples: [{ name: 'mixed_good', value: 1 }, { name: 'mixed_bad', value: 'high' }, { name: 'bad name', value: 2 }, { name: 'mixed_good', value: 3, tags: { k: 'v' } }] }));
    await nc.flush();

    const letters = await readDeadLetters(6);
    const reasons = letters.map((l) => l.rejections.map((r) => `${r.field}: ${r.reason}`).join('; '));
    for (const [what, , reason] of bad) expect(reasons.some((r) => r.includes(reason)), what).toBe(true);
    expect(letters.some((l) => l.subject === 'metrics.ingest.too.many.tokens' && l.rejections[0]!.field === 'subject')).toBe(true);
    const mixed = letters.find((l) => l.subject === 'metrics.ingest.mixed')!;
    expect(mixed.accepted).toBe(2);
    expect(mixed.rejections.map((r) => r.field)).toEqual(['samples[1].value', 'samples[2].name']);
    expect(JSON.parse(mixed.raw).samples).toHaveLength(4);

    const good = await waitFor(async () => {
      const { body } = await api('/metrics/current?name=mixed_good');
      return body.values.length === 2 ? body.values : undefined;
    }, 30_000, 'the good samples beside the bad ones');
    expect(good.map((v: { value: number }) => v.value).sort()).toEqual([1, 3]);

    const processor = procs.get('processor')!;
    expect(processor.child.exitCode).toBeNull();
    const health = (await api('/health/details')).body as { services: Record<string, { live: { opsPort: number }[] }> };
    const opsPort = health.services.processor!.live[0]!.opsPort;
    const counted = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    const rejections = [...counted.matchAll(/^tmon_processor_rejections_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(rejections).toBeGreaterThanOrEqual(7);
    const { body } = await api('/metrics/current?name=players_online');
    expect(body.values.length).toBeGreaterThan(0);
  }, 60_000);

  it('keeps a SAMPLES body the storage cannot decode whole on the dead-letter subject, and stores the good one beside it', async () => {
    const js = nc.jetstream();
    const batch = (name: string, id: string) => ({ parts: [{ id, source: 'e2e', samples: [{ name, value: 7, ts: Date.now() - 1000, tags: { k: 'v' } }] }] });
    const damaged = Buffer.from(encodeSampleBatch(batch('samples_damaged', 'e2e-damaged:1'))).subarray(0, -3);
    await js.publish(`${ns.id}.metrics.samples`, damaged);
    await js.publish(`${ns.id}.metrics.samples`, encodeSampleBatch(batch('samples_good', 'e2e-good:1')));
    const good = await waitFor(async () => {
      const { body } = await api('/metrics/current?name=samples_good');
      return body.values.length ? body.values : undefined;
    }, 10_000, 'the good body stored');
    expect(good[0]).toMatchObject({ value: 7, tags: { k: 'v' } });
    const letter = await waitFor(async () => (await readDeadLetters(1)).find((l) => l.subject === 'metrics.samples'), 10_000, 'the damaged body dead-lettered');
    expect(letter).toMatchObject({ accepted: 0, rejections: [{ field: 'parts[0].samples[0].value', reason: 'body ends early' }] });
    // Kept as text when the bytes happen to be UTF-8 (they hold a timestamp, so that varies), else in base64.
    expect(Buffer.from(letter.raw, letter.rawEncoding === 'utf8' ? 'utf8' : 'base64')).toEqual(damaged);
    const health = (await api('/health/details')).body as { services: Record<string, { live: { opsPort: number }[] }> };
    // Counted once the dead letter is stored, which the stream shows a moment before the storage hears of it.
    const counted = /^tmon_storage_invalid_batches_total(\{[^}]*\})? 1$/m;
    await waitFor(async () => (counted.test(await (await fetch(`http://127.0.0.1:${health.services.storage!.live[0]!.opsPort}/metrics`)).text()) ? true : undefined), 30_000, 'the invalid body counted');
    expect(procs.get('storage')!.child.exitCode).toBeNull();
  }, 60_000);

  it('accepts custom metrics over HTTP and names the bad field of a bad one', async () => {
    const ok = await api('/metrics/custom?source=scripts', { method: 'POST', body: JSON.stringify({ samples: [{ name: 'custom_metric', value: 42, tags: { team: 'ops' } }] }) });
    expect(ok).toEqual({ status: 202, body: { accepted: 1 } });
    const values = await waitFor(async () => {
      const { body } = await api('/metrics/current?name=custom_metric');
      return body.values.length ? body.values : undefined;
    }, 30_000, 'custom metric stored');
    expect(values[0]).toMatchObject({ value: 42, tags: { team: 'ops' } });

    const cases: [string, string, number, string][] = [
      ['NaN as text', JSON.stringify({ samples: [{ name: 'x', value: 'NaN' }] }), 400, 'samples[0].value'],
      ['missing value', JSON.stringify({ samples: [{ name: 'x' }] }), 400, 'samples[0].value'],
      ['bad name', JSON.stringify({ samples: [{ name: '9x', value: 1 }] }), 400, 'samples[0].name'],
      ['no samples', JSON.stringify({}), 400, 'samples'],
      ['malformed JSON', '{"samples": [', 400, '(body)'],
      ['oversized', JSON.stringify({ samples: [{ name: 'x', value: 1, tags: { pad: 'x'.repeat(600_000) } }] }), 413, '(body)'],
    ];
    for (const [what, body, status, field] of cases) {
      const res = await api('/metrics/custom', { method: 'POST', body });
      expect(res.status, what).toBe(status);
      expect(res.body.fields.map((f: { field: string }) => f.field), what).toContain(field);
    }
    const badQuery = await api('/metrics/history?name=x&from=yesterday');
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.fields[0].field).toBe('from');
    const gateway = procs.get('api-gateway')!;
    expect(gateway.child.exitCode).toBeNull();
  }, 60_000);

  it('stops every service cleanly on SIGTERM, a second signal during the shutdown included', async () => {
    const running = [...procs.values()].filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    for (const proc of running) proc.kill('SIGTERM');
    // A supervisor, or a terminal's Ctrl-C and the process manager forwarding it, signals again: the shutdown goes on.
    for (const proc of running) {
      await waitFor(() => (proc.output().includes('"message":"shutting down"') || proc.child.exitCode !== null ? true : undefined), 10_000, 'the shutdown begun');
      if (proc.child.exitCode === null) proc.kill('SIGTERM');
    }
    const codes = await Promise.all(running.map((p) => p.exited));
    expect(codes).toEqual(running.map(() => 0));
    for (const proc of running) expect(proc.output()).toContain('"message":"stopped"');
  }, 30_000);
});

async function readDeadLetters(atLeast: number): Promise<DeadLetter[]> {
  const js = nc.jetstream();
  const opts = consumerOpts().orderedConsumer().deliverAll();
  const letters: DeadLetter[] = [];
  const sub = await js.subscribe(`${ns.id}.metrics.deadletter.>`, opts);
  const done = waitFor(() => (letters.length >= atLeast ? true : undefined), 10_000, `${atLeast} dead letters`);
  void (async () => {
    for await (const m of sub) letters.push(DeadLetterSchema.parse(JSON.parse(new TextDecoder().decode(m.data))));
  })();
  await done.finally(() => sub.unsubscribe());
  return letters;
}
