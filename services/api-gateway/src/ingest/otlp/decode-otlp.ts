import protojson from 'protobufjs/ext/protojson.js';
import { BadPayloadError, type DecodedSamples } from '../decoded-samples.ts';
import { ExportMetricsServiceRequestType, PLAIN, type ExportMetricsServiceRequest } from './otlp-proto.ts';
import { otlpToSamples } from './otlp-to-samples.ts';

/** The two encodings of OTLP/HTTP. */
export type OtlpFormat = 'protobuf' | 'json';

/**
 * An `ExportMetricsServiceRequest` from protobuf or OTLP/JSON, read by protobufjs' ProtoJSON reader because
 * OTLP/JSON is protobuf's JSON mapping (lowerCamelCase names, int64 as strings, enums as integers, `"NaN"`), with
 * unknown fields skipped as OTLP asks of receivers (which also skips exemplars' hex ids, left out of the schema).
 */
function parseRequest(body: Uint8Array, format: OtlpFormat): ExportMetricsServiceRequest {
  try {
    const message =
      format === 'protobuf'
        ? ExportMetricsServiceRequestType.decode(body)
        : protojson.fromJsonString(ExportMetricsServiceRequestType, new TextDecoder('utf-8', { fatal: true }).decode(body), { ignoreUnknownFields: true });
    return ExportMetricsServiceRequestType.toObject(message, PLAIN) as ExportMetricsServiceRequest;
  } catch (err) {
    throw new BadPayloadError(`the body is not an OTLP ExportMetricsServiceRequest in ${format === 'protobuf' ? 'protobuf' : 'JSON'}: ${(err as Error).message}`);
  }
}

/** The samples of an OTLP/HTTP metrics body (already decompressed); BadPayloadError when it is not one. */
export function decodeOtlpMetrics(body: Uint8Array, format: OtlpFormat): DecodedSamples {
  return otlpToSamples(parseRequest(body, format));
}
