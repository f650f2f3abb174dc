import { uncompress } from 'snappy';
import { METRIC_NAME, TAG_KEY, tagsRefused, type IngestSample, type TagLimits } from '@terminusa/bus';
import { BadPayloadError, BodyTooLargeError, type DecodedSamples, type DropReason, type SampleBudget } from './decoded-samples.ts';
import { ELEMENTS_PER_SAMPLE, limitElements } from './protobuf-elements.ts';
import { WriteRequestType, isPrometheusStaleNaN, type WriteRequest } from '@terminusa/metric-store';

/**
 * The samples of a remote-write 1.0 body (protobuf `WriteRequest`, snappy block-compressed): `__name__` becomes
 * the sample's name and every other label a tag. A staleness marker (a target gone, a series no longer exposed)
 * becomes a `stale: true` sample, so queries stop seeing the series at once, as in Prometheus. Values the pipeline
 * does not store are counted and left out: other NaN and infinities, and native histograms (remote-write 1.0
 * senders send classic `_bucket` series unless told otherwise). A series' tags are counted against `budget` once
 * per sample, as the pipeline's messages write them, before its samples are made.
 */
export async function decodeRemoteWrite(compressed: Uint8Array, maxBytes: number, budget: SampleBudget, tagLimits: TagLimits): Promise<DecodedSamples> {
  // Read before decompressing: the whole output is made first, and a few bytes may declare gigabytes.
  const declared = snappyLength(compressed);
  if (declared === undefined) throw new BadPayloadError('the body is not snappy block-compressed: no length at its start');
  if (declared > maxBytes) throw new BodyTooLargeError(`the body decompresses to ${declared} bytes, more than the ${maxBytes} taken`);
  let body: Buffer;
  try {
    // Off the event loop: a 16 MiB body would hold every other request for tens of milliseconds.
    body = (await uncompress(Buffer.from(compressed.buffer, compressed.byteOffset, compressed.byteLength))) as Buffer;
  } catch (err) {
    throw new BadPayloadError(`the body is not snappy block-compressed: ${(err as Error).message}`);
  }
  limitElements(WriteRequestType, body, ELEMENTS_PER_SAMPLE * budget.max);
  let request: WriteRequest;
  try {
    request = WriteRequestType.decode(body) as unknown as WriteRequest;
  } catch (err) {
    throw new BadPayloadError(`the body is not a remote-write WriteRequest: ${(err as Error).message}`);
  }
  const samples: IngestSample[] = [];
  const dropped: DecodedSamples['dropped'] = {};
  const drop = (reason: DropReason, n: number) => (dropped[reason] = (dropped[reason] ?? 0) + n);
  for (const series of request.timeseries ?? []) {
    let name: string | undefined;
    // No prototype: a label named `__proto__` is a tag like any other, not a silent no-op.
    const tags: Record<string, string> = Object.create(null) as Record<string, string>;
    let labelsValid = true;
    for (const label of series.labels ?? []) {
      if (label.name === '__name__') name = label.value;
      else if (!TAG_KEY.test(label.name) || Object.hasOwn(tags, label.name)) labelsValid = false;
      else tags[label.name] = label.value;
    }
    if (series.histograms?.length) drop('native_histogram', series.histograms.length);
    budget.take(series.samples?.length ?? 0);
    // A series the pipeline would refuse is left out here and counted, as Prometheus' own receiver skips an invalid
    // one and keeps the rest: no name, or one it refuses (Prometheus 3's UTF-8 names, `http.server.requests`); a
    // label name it refuses (UTF-8, `__` first, the namespace label) or given twice; more labels than ingest.maxTags,
    // or a value over ingest.maxTagValueLength or holding NUL (the processor would refuse each sample after all of them
    // were written out with the series' labels).
    if (!name || !METRIC_NAME.test(name)) {
      drop('invalid_name', series.samples?.length ?? 0);
      continue;
    }
    if (!labelsValid || tagsRefused(tags, tagLimits)) {
      drop('invalid_label', series.samples?.length ?? 0);
      continue;
    }
    // Every sample carries the series' tags: 32 labels of 256 characters over 499,000 samples are 4 GB of messages.
    budget.takeTags(series.samples?.length ?? 0, tags);
    for (const s of series.samples ?? []) {
      const ts = typeof s.timestamp === 'number' ? s.timestamp : s.timestamp.toNumber();
      if (!Number.isSafeInteger(ts)) drop('invalid_timestamp', 1);
      else if (Number.isFinite(s.value)) samples.push({ name, value: s.value, ts, tags });
      else if (isPrometheusStaleNaN(s.value)) samples.push({ name, stale: true, ts, tags });
      else drop('non_finite', 1);
    }
  }
  return { samples, dropped };
}

/** The uncompressed length a snappy block states first (a little-endian base-128 varint of up to 32 bits). */
export function snappyLength(block: Uint8Array): number | undefined {
  let length = 0;
  for (let i = 0; i < 5 && i < block.length; i++) {
    length += (block[i]! & 0x7f) * 2 ** (7 * i);
    if ((block[i]! & 0x80) === 0) return length;
  }
  return undefined;
}
