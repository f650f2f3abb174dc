import protobuf from 'protobufjs';
import { BodyTooLargeError } from './decoded-samples.ts';

/**
 * Protobuf elements (repeated messages and scalars) a pushed request may hold for each sample it may make: labels
 * and attributes, a histogram's bounds and bucket counts. Prometheus' requests hold about one label per sample
 * beside it, an OpenTelemetry Collector's histogram batch two elements per sample.
 */
export const ELEMENTS_PER_SAMPLE = 4;

/** Bytes per element of a packed field by its scalar type; the varint types count their last bytes instead. */
const FIXED_WIDTH: Record<string, number> = { double: 8, fixed64: 8, sfixed64: 8, float: 4, fixed32: 4, sfixed32: 4 };
const VARINT = new Set(['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'bool', 'enum']);

/**
 * Throws BodyTooLargeError when the protobuf `body` of `type` holds more than `max` repeated elements, counted on
 * the wire without decoding anything: a 16 MiB body (a few kilobytes gzipped) of one-byte bucket counts decodes
 * into 16 million objects, half a gigabyte, before any count of the decoded message could refuse it. A body that
 * is not well-formed is left to the decoder, which says what is wrong with it.
 */
export function limitElements(type: protobuf.Type, body: Uint8Array, max: number): void {
  const reader = protobuf.Reader.create(body);
  let count = 0;
  const walk = (of: protobuf.Type, end: number): void => {
    while (reader.pos < end) {
      const tag = reader.uint32();
      const wire = tag & 7;
      const field = of.fieldsById[tag >>> 3]?.resolve();
      if (!field) {
        reader.skipType(wire);
        continue;
      }
      if (wire !== 2) {
        if (field.repeated) count++;
        reader.skipType(wire);
      } else {
        const length = reader.uint32();
        const stop = reader.pos + length;
        if (stop > end) return;
        if (field.resolvedType instanceof protobuf.Type) {
          if (field.repeated) count++;
          walk(field.resolvedType, stop);
        } else if (field.repeated && FIXED_WIDTH[field.type]) {
          count += Math.floor(length / FIXED_WIDTH[field.type]!);
        } else if (field.repeated && (VARINT.has(field.type) || field.resolvedType instanceof protobuf.Enum)) {
          for (let i = reader.pos; i < stop; i++) if ((body[i]! & 0x80) === 0) count++;
        } else if (field.repeated) {
          count++;
        }
        reader.pos = stop;
      }
      if (count > max) throw new BodyTooLargeError(`the request holds more than ${max} protobuf elements (labels, samples, buckets), the most one request may (${ELEMENTS_PER_SAMPLE} × ingest.maxSamplesPerRequest)`);
    }
  };
  try {
    walk(type, body.length);
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw err;
  }
}
