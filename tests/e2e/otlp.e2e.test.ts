import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtobufExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { VictoriaMetrics, type EngineSeries } from '@terminusa/metric-store';
import { startSuite, waitFor, type RunningSuite } from '@terminusa/testkit';

// The OpenTelemetry JS SDK exports a counter, an observable gauge, an up-down counter and a histogram to the
// gateway's /v1/metrics, once in protobuf (gzip) and once in JSON; the samples go through the processor and the
// storage into the engine, named as Prometheus names OTLP metrics, with job, instance and target_info.
let suite: RunningSuite;
/** The SDK's compression setting, an enum of a package it does not re-export. */
type Compression = NonNullable<NonNullable<ConstructorParameters<typeof ProtobufExporter>[0]>['compression']>;
const providers: MeterProvider[] = [];

beforeAll(async () => {
  suite = await startSuite({ services: ['processor', 'storage'] });
}, 120_000);

afterAll(async () => {
  await Promise.all(providers.map((p) => p.shutdown().catch(() => undefined)));
  await suite?.stop();
});

/** A meter provider of service `game/matchmaker`, instance `instance`, whose reader exports only when flushed. */
function meterProvider(instance: string, exporter: PushMetricExporter): MeterProvider {
  const resource = defaultResource().merge(resourceFromAttributes({ 'service.name': 'matchmaker', 'service.namespace': 'game', 'service.instance.id': instance }));
  const provider = new MeterProvider({ resource, readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })] });
  providers.push(provider);
  return provider;
}

/** Records the test's instruments: logins 3 + 4, 42 players online, a queue of 5 - 2, matches of 0.5, 3, 7 and 20 s. */
function record(provider: MeterProvider): void {
  const meter = provider.getMeter('matchmaker', '1.0.0');
  const logins = meter.createCounter('game.logins', { unit: '{login}' });
  logins.add(3, { zone: 'eu' });
  logins.add(4, { zone: 'eu' });
  meter.createObservableGauge('game.players.online', { unit: '{player}' }).addCallback((r) => r.observe(42, { zone: 'eu' }));
  const queue = meter.createUpDownCounter('game.queue.length');
  queue.add(5);
  queue.add(-2);
  const matches = meter.createHistogram('game.match.duration', { unit: 's', advice: { explicitBucketBoundaries: [1, 5, 10] } });
  for (const seconds of [0.5, 3, 7, 20]) matches.record(seconds, { mode: 'ranked' });
}

/** Every series of the instance in the engine. */
async function seriesOf(instance: string): Promise<EngineSeries[]> {
  return new VictoriaMetrics(suite.ns.config.storage.engine).exportAll(`{job="game/matchmaker",instance="${instance}"}`, 0, Date.now() + 60_000);
}

/** The last value of the series named `name` whose labels include `labels`. */
function valueOf(series: EngineSeries[], name: string, labels: Record<string, string> = {}): number | undefined {
  const s = series.find((x) => x.labels.__name__ === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.values[s.values.length - 1];
}

const EXPECTED: [string, Record<string, string>, number][] = [
  ['game_logins_total', { zone: 'eu' }, 7],
  ['game_players_online', { zone: 'eu' }, 42],
  ['game_queue_length', {}, 3],
  ['game_match_duration_seconds_bucket', { mode: 'ranked', le: '1' }, 1],
  ['game_match_duration_seconds_bucket', { mode: 'ranked', le: '5' }, 2],
  ['game_match_duration_seconds_bucket', { mode: 'ranked', le: '10' }, 3],
  ['game_match_duration_seconds_bucket', { mode: 'ranked', le: '+Inf' }, 4],
  ['game_match_duration_seconds_sum', { mode: 'ranked' }, 30.5],
  ['game_match_duration_seconds_count', { mode: 'ranked' }, 4],
  ['target_info', { telemetry_sdk_language: 'nodejs', telemetry_sdk_name: 'opentelemetry' }, 1],
];

describe('OpenTelemetry SDK into the suite over OTLP/HTTP', () => {
  let key: string;
  beforeAll(async () => {
    key = await suite.apiKey('otel-eu', 'producer');
  });

  const cases: [string, () => PushMetricExporter][] = [
    ['protobuf, gzip', () => new ProtobufExporter({ url: `${suite.base}/v1/metrics`, headers: { Authorization: `Bearer ${key}` }, compression: 'gzip' as Compression })],
    ['JSON', () => new JsonExporter({ url: `${suite.base}/v1/metrics`, headers: { Authorization: `Bearer ${key}` } })],
  ];
  it.each(cases)('stores what the SDK exports in %s: Prometheus names, values, job, instance and target_info', async (encoding, exporter) => {
    const instance = `eu-${encoding.split(',')[0]}`;
    const provider = meterProvider(instance, exporter());
    record(provider);
    const flushedAt = Date.now();
    // Rejects when the export failed (the gateway answered other than 200).
    await provider.forceFlush();

    const series = await waitFor(
      async () => {
        const found = await seriesOf(instance);
        return EXPECTED.every(([name, labels]) => valueOf(found, name, labels) !== undefined) ? found : undefined;
      },
      60_000,
      `the ${encoding} export's series in the engine`,
      250,
    );
    for (const [name, labels, value] of EXPECTED) expect({ name, labels, value: valueOf(series, name, labels) }).toEqual({ name, labels, value });
    for (const s of series) {
      expect(s.labels).toMatchObject({ job: 'game/matchmaker', instance });
      // Each point once, at the time the SDK collected it.
      expect(s.timestamps).toHaveLength(1);
      expect(s.timestamps[0]).toBeGreaterThanOrEqual(flushedAt - 1_000);
      expect(s.timestamps[0]).toBeLessThanOrEqual(Date.now());
    }
    expect(series.find((s) => s.labels.__name__ === 'target_info')!.labels).toMatchObject({ telemetry_sdk_version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    // Nothing but what the mapping names: no OTLP name or unit left, no label of job's and instance's attributes.
    expect(new Set(series.map((s) => s.labels.__name__))).toEqual(new Set(EXPECTED.map(([name]) => name)));
    expect(series.every((s) => !('service_name' in s.labels) && !('service_instance_id' in s.labels))).toBe(true);
  }, 90_000);
});
