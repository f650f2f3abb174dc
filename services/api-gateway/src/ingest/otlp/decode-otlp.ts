import protojson from 'protobufjs/ext/protojson.js';
import type { Message } from 'protobufjs';
import type { TagLimits } from '@terminusa/bus';
import { BadPayloadError, type DecodedSamples, type SampleBudget } from '../decoded-samples.ts';
import { limitJsonElements } from '../json-elements.ts';
import { ELEMENTS_PER_SAMPLE, limitElements } from '../protobuf-elements.ts';
import { ExportMetricsServiceRequestType, PLAIN, type ExportMetricsServiceRequest } from './otlp-proto.ts';
import { otlpToSamples, samplesMade } from './otlp-to-samples.ts';

/** The two encodings of OTLP/HTTP. */
export type OtlpFormat = 'protobuf' | 'json';

/**
 * An `ExportMetricsServiceRequest` from protobuf or OTLP/JSON, read by protobufjs' ProtoJSON reader because
 * OTLP/JSON is protobuf's JSON mapping (lowerCamelCase names, int64 as strings, enums as integers, `"NaN"`), with
 * unknown fields skipped as OTLP asks of receivers (which also skips exemplars' hex ids, left out of the schema).
 */
function parseRequest(body: Uint8Array, format: OtlpFormat): Message {
  try {
    return format === 'protobuf'
      ? ExportMetricsServiceRequestType.decode(body)
      : protojson.fromJsonString(ExportMetricsServiceRequestType, new TextDecoder('utf-8', { fatal: true }).decode(body), { ignoreUnknownFields: true });
  } catch (err) {
    throw new BadPayloadError(`the body is not an OTLP ExportMetricsServiceRequest in ${format === 'protobuf' ? 'protobuf' : 'JSON'}: ${(err as Error).message}`);
  }
}

/**
 * The samples of an OTLP/HTTP metrics body (already decompressed); BadPayloadError when it is not one. The body's
 * repeated elements (protobuf) or array elements (JSON) are counted before it is decoded; what it would make is
 * counted against `budget` from the decoded message's array lengths, before any is made, and so are their tags
 * written out once per sample; points whose labels the processor would refuse (`tagLimits`) are left out.
 */
export function decodeOtlpMetrics(body: Uint8Array, format: OtlpFormat, budget: SampleBudget, tagLimits: TagLimits): DecodedSamples {
  if (format === 'protobuf') limitElements(ExportMetricsServiceRequestType, body, ELEMENTS_PER_SAMPLE * budget.max);
  else limitJsonElements(body, ELEMENTS_PER_SAMPLE * budget.max);
  const message = parseRequest(body, format);
  budget.take(samplesMade(message as unknown as ExportMetricsServiceRequest));
  return otlpToSamples(ExportMetricsServiceRequestType.toObject(message, PLAIN) as ExportMetricsServiceRequest, budget, tagLimits);
}
