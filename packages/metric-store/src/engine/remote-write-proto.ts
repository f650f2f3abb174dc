import protobuf from 'protobufjs';

/**
 * Prometheus remote-write 1.0's messages (prompb/remote.proto and types.proto), the fields a receiver reads: the
 * gateway decodes what senders push, and the engine client writes staleness markers in them (the engine's JSON
 * import has no way to say one). Parsed once from the schema's text, so no generated code is kept beside it.
 */
const PROTO = `
syntax = "proto3";
package prometheus;
message WriteRequest {
  repeated TimeSeries timeseries = 1;
  repeated MetricMetadata metadata = 3;
}
message TimeSeries {
  repeated Label labels = 1;
  repeated Sample samples = 2;
  repeated Exemplar exemplars = 3;
  repeated Histogram histograms = 4;
}
message Label {
  string name = 1;
  string value = 2;
}
message Sample {
  double value = 1;
  int64 timestamp = 2;
}
message Exemplar {
  repeated Label labels = 1;
  double value = 2;
  int64 timestamp = 3;
}
message Histogram {
  int64 timestamp = 15;
}
message MetricMetadata {
  int32 type = 1;
  string metric_family_name = 2;
  string help = 4;
  string unit = 5;
}
`;

/** `WriteRequest` as protobufjs decodes it (int64 as Long or number, depending on whether `long` is loaded). */
export interface WriteRequest {
  timeseries?: { labels?: { name: string; value: string }[]; samples?: { value: number; timestamp: number | { toNumber(): number } }[]; histograms?: unknown[] }[];
}

export const WriteRequestType = protobuf.parse(PROTO, { keepCase: true }).root.lookupType('prometheus.WriteRequest');

/** Prometheus' staleness marker: the NaN with this bit pattern (value.StaleNaN); other NaN are plain values. */
const STALE_NAN_BITS = 0x7ff0000000000002n;
const bits = new DataView(new ArrayBuffer(8));

function staleNaN(): number {
  bits.setBigUint64(0, STALE_NAN_BITS);
  return bits.getFloat64(0);
}

/** The staleness marker as a double; written as it is, its bits reach the wire (protobufjs writes through a Float64Array). */
export const PROMETHEUS_STALE_NAN = staleNaN();

/** Whether a remote-write value is Prometheus' staleness marker. */
export function isPrometheusStaleNaN(value: number): boolean {
  bits.setFloat64(0, value);
  return bits.getBigUint64(0) === STALE_NAN_BITS;
}
