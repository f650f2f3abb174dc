import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeOtlpMetrics } from './decode-otlp.ts';
import { BodyTooLargeError, SampleBudget } from '../decoded-samples.ts';
import { gunzipBody } from './gunzip-body.ts';

/** The processor's default tag limits (ingest.maxTags, ingest.maxTagValueLength). */
const TAGS = { maxTags: 32, maxTagValueLength: 256 };

const T = 1_700_000_000_000;
const json = (body: unknown) => Buffer.from(JSON.stringify(body));
const gauge = (point: Record<string, unknown>) => ({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'g', gauge: { dataPoints: [point] } }] }] }] });

describe('decodeOtlpMetrics', () => {
  it('reads OTLP/JSON as the spec writes it: int64 as strings or numbers, "NaN", enums as integers, unknown fields skipped', () => {
    const body = {
      resourceMetrics: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'lobby' } }], droppedAttributesCount: 0 },
          schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
          scopeMetrics: [
            {
              scope: { name: 'lobby', attributes: [] },
              metrics: [
                {
                  name: 'lobby.joins',
                  description: 'joins',
                  sum: {
                    aggregationTemporality: 2,
                    isMonotonic: true,
                    dataPoints: [
                      // Exemplar ids are hex in OTLP/JSON (not base64, as protobuf's JSON would have bytes): skipped, never read.
                      { timeUnixNano: `${T}000000`, asInt: 12, exemplars: [{ timeUnixNano: `${T}000000`, asInt: '1', traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174' }] },
                      { timeUnixNano: `${T + 1}000000`, asDouble: 'NaN' },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    expect(decodeOtlpMetrics(json(body), 'json', new SampleBudget(1000), TAGS)).toEqual({ samples: [{ name: 'lobby_joins_total', value: 12, ts: T, tags: { job: 'lobby' } }], dropped: { non_finite: 1 }, rejectedPoints: 1 });
  });

  it('takes the proto field names too (snake_case), as protobuf JSON readers do', () => {
    const body = { resource_metrics: [{ scope_metrics: [{ metrics: [{ name: 'g', gauge: { data_points: [{ time_unix_nano: `${T}000000`, as_double: 1.5 }] } }] }] }] };
    expect(decodeOtlpMetrics(json(body), 'json', new SampleBudget(1000), TAGS).samples).toEqual([{ name: 'g', value: 1.5, ts: T, tags: {} }]);
  });

  it('refuses with the reason a body that is not a request in the encoding it says', () => {
    const bad = (body: Uint8Array, format: 'json' | 'protobuf') => () => decodeOtlpMetrics(body, format, new SampleBudget(1000), TAGS);
    expect(bad(Buffer.from('{"resourceMetrics": ['), 'json')).toThrow(/not an OTLP ExportMetricsServiceRequest in JSON: .*JSON/);
    expect(bad(json([1, 2]), 'json')).toThrow(/in JSON: .*expected object/);
    expect(bad(json({ resourceMetrics: {} }), 'json')).toThrow(/resourceMetrics: expected array/);
    expect(bad(json(gauge({ timeUnixNano: 'yesterday', asDouble: 1 })), 'json')).toThrow(/timeUnixNano: invalid integer/);
    expect(bad(json(gauge({ timeUnixNano: '1', asDouble: 1, asInt: '1' })), 'json')).toThrow(/multiple values for oneof value/);
    expect(bad(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]), 'json')).toThrow(/in JSON: .*encoded data was not valid/);
    expect(bad(Buffer.from([0x0a, 0x05, 0x0a]), 'protobuf')).toThrow(/not an OTLP ExportMetricsServiceRequest in protobuf: index out of range/);
    expect(bad(json(gauge({ asDouble: 1 })), 'protobuf')).toThrow(/in protobuf/);
  });
});

describe('gunzipBody', () => {
  it('decompresses up to the limit, and tells a bomb from a body that is not gzip', async () => {
    const plain = json(gauge({ timeUnixNano: `${T}000000`, asDouble: 1 }));
    expect(await gunzipBody(gzipSync(plain), 1 << 20)).toEqual(plain);
    await expect(gunzipBody(gzipSync(Buffer.alloc(1 << 20)), 1 << 16)).rejects.toThrow(BodyTooLargeError);
    await expect(gunzipBody(plain, 1 << 20)).rejects.toThrow(/not gzip/);
  });
});
