import { describe, expect, it } from 'vitest';
import { attributeText } from './attribute-text.ts';
import { floatLabel } from './float-label.ts';
import { labelName, metricName } from './otlp-names.ts';

describe('metricName', () => {
  it.each([
    // [name, unit, kind, expected]
    ['http.server.duration', 's', 'other', 'http_server_duration_seconds'],
    ['system.network.io', 'By', 'counter', 'system_network_io_bytes_total'],
    ['requests.total', '', 'counter', 'requests_total'],
    ['total.requests', '', 'counter', 'requests_total'],
    ['throughput', 'By/s', 'gauge', 'throughput_bytes_per_second'],
    ['speed', 'm/s', 'gauge', 'speed_meters_per_second'],
    ['events', '1/s', 'gauge', 'events_per_second'],
    ['cpu.utilization', '1', 'gauge', 'cpu_utilization_ratio'],
    ['hit.ratio', '1', 'gauge', 'hit_ratio'],
    ['errors', '1', 'counter', 'errors_total'],
    ['players.online', '{player}', 'gauge', 'players_online'],
    ['queue', '{message}/s', 'gauge', 'queue_per_second'],
    ['memory.usage', 'MiBy', 'gauge', 'memory_usage_mebibytes'],
    ['room.temperature', 'Cel', 'gauge', 'room_temperature_celsius'],
    ['disk.free', '%', 'gauge', 'disk_free_percent'],
    ['latency_seconds', 's', 'other', 'latency_seconds'],
    ['my-metric!', 'foo.bar', 'gauge', 'my_metric_foo_bar'],
    ['2xx.responses', '', 'gauge', '_2xx_responses'],
    ['ns:sub.metric', 'ms', 'other', 'ns:sub_metric_milliseconds'],
    ['a__b..c', '', 'gauge', 'a_b_c'],
    ['http.requests', '', 'delta_counter', 'http_requests'],
    ['http.requests.total', '', 'delta_counter', 'http_requests'],
    ['...', 's', 'gauge', ''],
    ['', '', 'counter', ''],
  ] as const)('%s in %s as %s is %s', (name, unit, kind, expected) => {
    expect(metricName(name, unit, kind)).toBe(expected);
  });
});

describe('labelName', () => {
  it.each([
    ['http.method', 'http_method'],
    ['service.instance.id', 'service_instance_id'],
    ['a..b', 'a__b'],
    ['1st', 'key_1st'],
    ['_private', 'key_private'],
    // Names the pipeline reserves get the prefix, as `_x` does; Prometheus keeps them, and overwrites `__name__`.
    ['__reserved', 'key__reserved'],
    ['tmon_ns', 'key_tmon_ns'],
    ['ünï-code', 'key_n__code'],
    ['plain_name', 'plain_name'],
  ])('%s is %s', (key, expected) => {
    expect(labelName(key)).toBe(expected);
  });

  it('gives no name for an empty key or one of nothing but separators', () => {
    expect(labelName('')).toBeUndefined();
    expect(labelName('...')).toBeUndefined();
    expect(labelName('__name__')).toBeUndefined();
  });
});

describe('floatLabel', () => {
  it.each([
    [0, '0'],
    [0.005, '0.005'],
    [2.5, '2.5'],
    [1e6, '1000000'],
    [1e21, '1000000000000000000000'],
    [1.5e-7, '0.00000015'],
    [-2.5e-8, '-0.000000025'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
    [1.0905077326652577, '1.0905077326652577'],
  ])('%s is %s', (x, expected) => {
    expect(floatLabel(x)).toBe(expected);
  });
});

describe('attributeText', () => {
  it('writes values as the collector does: strings as they are, bytes in base64, arrays and maps as JSON', () => {
    expect(attributeText({ stringValue: 'eu-1' })).toBe('eu-1');
    expect(attributeText({ boolValue: false })).toBe('false');
    expect(attributeText({ intValue: '-9223372036854775808' })).toBe('-9223372036854775808');
    expect(attributeText({ doubleValue: 0.25 })).toBe('0.25');
    expect(attributeText({ bytesValue: 'AQID' })).toBe('AQID');
    expect(attributeText({ arrayValue: { values: [{ stringValue: 'a' }, { intValue: '1' }, { boolValue: true }] } })).toBe('["a",1,true]');
    expect(attributeText({ kvlistValue: { values: [{ key: 'z', value: { doubleValue: 1.5 } }, { key: 'a', value: { stringValue: 'x"y' } }] } })).toBe('{"a":"x\\"y","z":1.5}');
    expect(attributeText({})).toBe('');
    expect(attributeText(undefined)).toBe('');
  });
});
