import { METRIC_NAME, SOURCE, type Sample, type SampleBatch, type SamplePart } from './schemas.ts';

/**
 * The wire form of `metrics.samples` bodies. Every sample crosses the bus twice after the processor (to the storage
 * and to the alert-manager), and as JSON its number texts and objects cost each side about as much as the rest of
 * its handling; packed, a body is less than half the bytes and several times cheaper to write and read.
 *
 *   body    = "TSB1" u32:partCount part*
 *   part    = str:id str:source u32:nameCount str:name* u32:sampleCount sample*
 *   sample  = u32:nameIndex str:tags f64:ts f64:value      (tags: the JSON of the tags object)
 *   str     = u32:byteLength utf8
 *
 * Integers and doubles are little-endian. A part's metric names are written once, in a table, and each sample
 * points into it; the tags travel as JSON text, which the reader parses once per series (see parseTags).
 */
const MAGIC = Buffer.from('TSB1');

/** A growing buffer that values are appended to. */
class Writer {
  at = 0;
  buf: Buffer;

  constructor(capacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + bytes));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }

  u32(n: number): void {
    this.room(4);
    this.at = this.buf.writeUInt32LE(n, this.at);
  }

  f64(n: number): void {
    this.room(8);
    this.at = this.buf.writeDoubleLE(n, this.at);
  }

  str(s: string): void {
    // A UTF-16 unit is at most three bytes of UTF-8.
    this.room(4 + s.length * 3);
    const length = this.buf.write(s, this.at + 4);
    this.buf.writeUInt32LE(length, this.at);
    this.at += 4 + length;
  }
}

/**
 * A part to encode, optionally with the JSON of each sample's tags as its producer already built it (the tags
 * sorted by key, as the wire form carries them), so the processor serializes a sample's tags once, not twice.
 */
export interface EncodablePart extends SamplePart {
  readonly tagsJson?: readonly string[];
}

function writePart(w: Writer, part: EncodablePart): void {
  w.str(part.id);
  w.str(part.source);
  const names = new Map<string, number>();
  for (const s of part.samples) if (!names.has(s.name)) names.set(s.name, names.size);
  w.u32(names.size);
  for (const name of names.keys()) w.str(name);
  w.u32(part.samples.length);
  const { samples, tagsJson } = part;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    w.u32(names.get(s.name)!);
    w.str(tagsJson?.[i] ?? JSON.stringify(s.tags));
    w.f64(s.ts);
    w.f64(s.value);
  }
}

/**
 * `metrics.samples` bodies holding `parts` in order, each at most `maxBytes` long, with the ids of the parts each
 * holds. A part longer than that on its own is cut in halves until each fits (ids `<id>/1`, `<id>/2`, the same on
 * a redelivery): sent whole, the server refused it, and the ingest message behind it was retried for ever. Each part
 * is encoded once, bar those cut; bodies are slices of those encodings.
 */
export function sampleBatchBodies(parts: readonly EncodablePart[], maxBytes: number): { body: Uint8Array; ids: string[] }[] {
  const w = new Writer();
  const ends: number[] = [];
  const header = MAGIC.length + 4;
  const placed: EncodablePart[] = [];
  const write = (part: EncodablePart): void => {
    const start = w.at;
    writePart(w, part);
    if (header + w.at - start <= maxBytes || part.samples.length < 2) {
      placed.push(part);
      ends.push(w.at);
      return;
    }
    w.at = start;
    const half = Math.ceil(part.samples.length / 2);
    for (const [k, from, to] of [[1, 0, half], [2, half, part.samples.length]] as const) {
      write({ id: `${part.id}/${k}`, source: part.source, samples: part.samples.slice(from, to), ...(part.tagsJson ? { tagsJson: part.tagsJson.slice(from, to) } : {}) });
    }
  };
  for (const part of parts) write(part);
  parts = placed;
  const bodies: { body: Uint8Array; ids: string[] }[] = [];
  let first = 0;
  while (first < parts.length) {
    const start = first === 0 ? 0 : ends[first - 1]!;
    let last = first + 1;
    while (last < parts.length && header + ends[last]! - start <= maxBytes) last++;
    const body = Buffer.allocUnsafe(header + ends[last - 1]! - start);
    MAGIC.copy(body, 0);
    body.writeUInt32LE(last - first, MAGIC.length);
    w.buf.copy(body, header, start, ends[last - 1]!);
    bodies.push({ body, ids: parts.slice(first, last).map((p) => p.id) });
    first = last;
  }
  return bodies;
}

/** Encodes a whole batch as one body (for publishers that send a batch as it is). */
export function encodeSampleBatch(batch: SampleBatch): Uint8Array {
  return sampleBatchBodies(batch.parts, Infinity)[0]!.body;
}

/**
 * The bytes a body holds when one of its samples is of metric `name` (the entry of the part's name table): a
 * reader that only wants some metrics can skip a body without any of these by a byte search.
 */
export function sampleNameMarker(name: string): Buffer {
  const w = new Writer(16);
  w.str(name);
  return w.buf.subarray(0, w.at);
}

/** Whether a body is in the packed form (its first bytes); JSON bodies of processors before it are read as JSON. */
export function isPackedSampleBatch(data: Uint8Array): boolean {
  return data.byteLength >= MAGIC.length && Buffer.from(data.buffer, data.byteOffset, MAGIC.length).equals(MAGIC);
}

/** A body that is not a well-formed sample batch; `field` says where it went wrong. */
export class SampleBatchFormatError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

/**
 * A decoded tags object's JSON text, kept on the object itself (a symbol key: invisible to Object.keys and
 * JSON.stringify) when that text is already the canonical one, i.e. the series' tags identity: the storage needs
 * only that text (engine import, current-value field), and building it again per sample, or remembering it in a
 * WeakMap, was a fifth of its time with a million series.
 */
export const TAGS_JSON: unique symbol = Symbol.for('terminusa.tags-json');

/**
 * Tags by their JSON text, in two generations of at most TAGS_GENERATION series each: the same series arrives
 * again and again, and its tags are parsed and checked once. A miss goes into the young generation; when it is full
 * it becomes the old one, and the old one is dropped. A single map emptied when full missed on every sample as soon
 * as a fleet had more series than it held, since a fleet's series come round in the same order: 3.5 µs a sample to
 * decode with 200,100 series against 0.8 with 150,000, and bench:remote-write's storage spent a quarter of its time
 * there. Two generations hold a fleet of up to twice as many (0.84 µs with 200,100, 1.0 with 400,000), with nothing
 * to do on a hit; past that, misses cost what they did (3.8 µs with a million).
 */
const TAGS_GENERATION = 200_000;
/**
 * The characters of tags JSON one generation holds, at most: 200,000 series of 300 characters fit, where the count
 * alone let senders of long unique tags (up to REMEMBERED_TAGS_CHARS each) fill about 3 GB.
 */
const TAGS_GENERATION_CHARS = 64_000_000;
let youngChars = 0;
let youngTags = new Map<string, Readonly<Record<string, string>>>();
let oldTags = new Map<string, Readonly<Record<string, string>>>();

/**
 * Past what the generations hold, remembering costs more than it saves: a fleet's series come round in the same
 * order, so each is evicted before it comes again, and a miss that is remembered took 3.2 µs a sample with a million
 * series against about 2 for one parsed and let go (the inserts, and the old generation's garbage outliving the
 * young-space collections). So once the young generation has been full twice (before, misses are new series, which
 * remembering is for: a fleet the two hold fills it once), when half of JUDGED_LOOKUPS lookups missed, the next
 * SKIPPED_LOOKUPS leave the generations as they are: the series they hold still hit, the others are parsed and let
 * go. Then it judges again.
 */
const JUDGED_LOOKUPS = 100_000;
const SKIPPED_LOOKUPS = 2_000_000;
/**
 * The longest tags JSON remembered: real tags are a few hundred characters, and the generations are bounded by count,
 * so remembering tags of any size (which the processor refuses only after decoding them) let a sender of 400 KB tags
 * fill its memory.
 */
const REMEMBERED_TAGS_CHARS = 4096;

let judged = 0;
let missed = 0;
let skipped = 0;
let generations = 0;

/** Counts a lookup that missed or not; whether a miss is to be remembered now. */
function remembering(miss: boolean): boolean {
  if (skipped > 0) {
    skipped--;
    return false;
  }
  if (generations < 2) return true;
  judged++;
  if (miss) missed++;
  if (judged === JUDGED_LOOKUPS) {
    if (missed >= judged / 2) skipped = SKIPPED_LOOKUPS;
    judged = missed = 0;
  }
  return true;
}

function rememberTags(json: string, tags: Readonly<Record<string, string>>): void {
  if (youngTags.size >= TAGS_GENERATION || youngChars + json.length > TAGS_GENERATION_CHARS) {
    oldTags = youngTags;
    youngTags = new Map();
    youngChars = 0;
    generations++;
  }
  youngTags.set(json, tags);
  youngChars += json.length;
}

function parseTags(json: string, where: () => string): Readonly<Record<string, string>> {
  const known = youngTags.get(json) ?? oldTags.get(json);
  if (known) {
    remembering(false);
    return known;
  }
  let tags: unknown;
  try {
    tags = JSON.parse(json);
  } catch {
    throw new SampleBatchFormatError(where(), 'not JSON');
  }
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) throw new SampleBatchFormatError(where(), 'not an object');
  let empty = false;
  for (const value of Object.values(tags)) {
    if (typeof value !== 'string') throw new SampleBatchFormatError(where(), 'values must be strings');
    empty ||= value === '';
  }
  const keys = Object.keys(tags);
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1]! < keys[i]!;
  // Not noted with an empty value: the processor leaves such a tag out of the series (as its absence), and its JSON then changes.
  if (sorted && !empty && JSON.stringify(tags) === json) Object.defineProperty(tags, TAGS_JSON, { value: json });
  // Shared by every sample of the series, so nobody may change them.
  Object.freeze(tags);
  if (json.length <= REMEMBERED_TAGS_CHARS && remembering(true)) rememberTags(json, tags as Record<string, string>);
  return tags as Record<string, string>;
}

/** Thrown by {@link Reader} at the end of the body; the decoder names the field it was reading. */
class BodyEndsEarly extends Error {}

/** Reads values off a body, refusing to read past its end. */
class Reader {
  at = 0;
  constructor(readonly buf: Buffer) {}

  private need(bytes: number): void {
    if (this.at + bytes > this.buf.length) throw new BodyEndsEarly();
  }

  u32(): number {
    this.need(4);
    const n = this.buf.readUInt32LE(this.at);
    this.at += 4;
    return n;
  }

  f64(): number {
    this.need(8);
    const n = this.buf.readDoubleLE(this.at);
    this.at += 8;
    return n;
  }

  str(): string {
    const length = this.u32();
    this.need(length);
    const s = this.buf.toString('utf8', this.at, this.at + length);
    this.at += length;
    return s;
  }
}

/** The smallest encoded sample: name index, an empty tags object, ts and value. */
const MIN_SAMPLE_BYTES = 4 + 4 + 2 + 8 + 8;

/**
 * Decodes a `metrics.samples` body, checking what `SampleBatchSchema` requires (metric names, sources, integer
 * timestamps, finite values or staleness markers, string tag values); throws a {@link SampleBatchFormatError}
 * naming the first wrong field. Samples of one series share one frozen tags object.
 */
export function decodeSampleBatch(data: Uint8Array): SampleBatch {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!isPackedSampleBatch(buf)) throw new SampleBatchFormatError('(message)', 'not a sample batch (version TSB1)');
  const r = new Reader(buf);
  r.at = MAGIC.length;
  // Where the reader is, for the error: part, sample (or name) index, and field.
  let p = -1;
  let i = -1;
  let field = 'parts';
  const where = () => (p < 0 ? field : i < 0 ? `parts[${p}].${field}` : `parts[${p}].${field.startsWith('names') ? `names[${i}]` : `samples[${i}].${field}`}`);
  const fail = (reason: string) => new SampleBatchFormatError(where(), reason);
  try {
    const partCount = r.u32();
    if (partCount === 0) throw fail('at least one part');
    const parts: SamplePart[] = [];
    for (p = 0; p < partCount; p++) {
      i = -1;
      field = 'id';
      const id = r.str();
      if (id.length === 0) throw fail('empty');
      field = 'source';
      const source = r.str();
      if (!SOURCE.test(source)) throw fail('not a source token');
      field = 'names';
      const nameCount = r.u32();
      const names: string[] = [];
      for (i = 0; i < nameCount; i++) {
        const name = r.str();
        if (!METRIC_NAME.test(name)) throw fail('not a metric name');
        names.push(name);
      }
      i = -1;
      field = 'samples';
      const sampleCount = r.u32();
      // A count past what the rest of the body can hold is refused before anything is allocated for it.
      if (sampleCount * MIN_SAMPLE_BYTES > buf.length - r.at) throw new BodyEndsEarly();
      const samples = new Array<Sample>(sampleCount);
      for (i = 0; i < sampleCount; i++) {
        field = 'name';
        const name = names[r.u32()];
        if (name === undefined) throw fail('no such entry in the name table');
        field = 'tags';
        const tags = parseTags(r.str(), where);
        field = 'ts';
        const ts = r.f64();
        if (!Number.isSafeInteger(ts)) throw fail('not integer epoch milliseconds');
        field = 'value';
        const value = r.f64();
        // NaN is a staleness marker (STALE_MARKER); infinities never enter the suite.
        if (!Number.isFinite(value) && !Number.isNaN(value)) throw fail('not a finite number or a staleness marker');
        samples[i] = { name, value, ts, tags: tags as Record<string, string> };
      }
      parts.push({ id, source, samples });
    }
    p = -1;
    field = '(message)';
    if (r.at !== buf.length) throw fail(`${buf.length - r.at} bytes after the last part`);
    return { parts };
  } catch (err) {
    if (err instanceof BodyEndsEarly) throw fail('body ends early');
    throw err;
  }
}
