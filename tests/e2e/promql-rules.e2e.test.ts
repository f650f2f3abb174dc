import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { startSuite, waitFor, type RunningSuite } from '@terminusa/testkit';

// A Prometheus rule file, loaded unchanged by the alert-manager: its alert rule fires through the suite's own
// alert path (active alerts, history), and its recording rule's samples come back through the pipeline.
const RULES = `
groups:
  - name: game
    interval: 1s
    rules:
      - record: zone:queue_depth:sum
        expr: sum by (zone) (queue_depth)
      - alert: QueueBacklog
        expr: sum by (zone) (queue_depth) > 100
        labels: { severity: critical }
        annotations:
          summary: "{{ $labels.zone }} backlog {{ $value }}"
`;

let suite: RunningSuite;
let nc: NatsConnection;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmon-promql-rules-'));
  await writeFile(join(dir, 'game.rules.yml'), RULES);
  suite = await startSuite({ services: ['processor', 'storage', 'alert-manager'], env: { ALERT_RULES_FILE: join(dir, 'game.rules.yml') } });
  nc = await connect({ servers: suite.ns.config.nats.url });
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await suite?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('PromQL rules from a Prometheus rule file', () => {
  it('fire an alert and record a series, evaluated through the engine every interval', async () => {
    const publish = (zone: string, host: string, value: number) =>
      nc.publish(`${suite.ns.id}.metrics.ingest.game`, new TextEncoder().encode(JSON.stringify({ samples: [{ name: 'queue_depth', value, tags: { zone, host } }] })));
    // eu: 80 + 70 > 100 fires; us: 30 + 20 does not.
    const feed = setInterval(() => {
      publish('eu', 'a', 80);
      publish('eu', 'b', 70);
      publish('us', 'c', 30);
      publish('us', 'd', 20);
    }, 500);
    try {
      const alert = await waitFor(
        async () => (await suite.api('/alerts/active')).body.alerts.find((a: { rule: string; state: string }) => a.rule === 'QueueBacklog' && a.state === 'firing'),
        60_000,
        'the PromQL alert firing',
        250,
      );
      expect(alert).toMatchObject({ severity: 'critical', labels: { zone: 'eu', alertname: 'QueueBacklog', severity: 'critical' }, summary: 'eu backlog 150' });
      expect((await suite.api('/alerts/active')).body.alerts.filter((a: { rule: string }) => a.rule === 'QueueBacklog')).toHaveLength(1);

      const recorded = await waitFor(
        async () => {
          const { body } = await suite.api(`/metrics/history?name=${encodeURIComponent('zone:queue_depth:sum')}&from=${Date.now() - 120_000}`);
          return body.series?.length === 2 ? body.series : undefined;
        },
        60_000,
        'the recorded series of both zones',
        250,
      );
      const last = (zone: string) => recorded.find((s: { tags: { zone: string } }) => s.tags.zone === zone).points.at(-1)[1];
      expect([last('eu'), last('us')]).toEqual([150, 50]);
    } finally {
      clearInterval(feed);
    }
  }, 150_000);
});
