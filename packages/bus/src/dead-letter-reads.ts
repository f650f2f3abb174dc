import type { JetStreamManager } from 'nats';
import type { Bus } from './bus.ts';
import { DeadLetterSchema, type DeadLetter } from './schemas.ts';
import { SUBJECTS } from './subjects.ts';

/** A dead letter as the DEADLETTER stream keeps it. */
export interface StoredDeadLetter {
  /** Its sequence in the DEADLETTER stream: what names it. */
  seq: number;
  /** The source it was dead-lettered under (`metrics.deadletter.<source>`). */
  source: string;
  /** When the stream stored it, epoch ms. */
  storedAt: number;
  letter: DeadLetter;
}

/** One page of dead letters, newest first. */
export interface DeadLetterPage {
  letters: StoredDeadLetter[];
  /** The `before` that asks for the next, older page; absent when nothing older is kept. */
  before?: number;
}

/** Most stream messages one page looks at, so a rare source's page does not read a week of dead letters at once. */
const MAX_SCAN = 5000;
/** Messages asked for at once while scanning. */
const SCAN_PARALLELISM = 32;

const manager = (bus: Bus): Promise<JetStreamManager> => bus.nc.jetstreamManager({ checkAPI: false });

/** JetStream's error code for a sequence the stream does not hold (never written, removed, or aged out). */
const NO_MESSAGE_FOUND = 10037;

/** The dead letter at `seq`, or undefined when the stream no longer keeps it (or it is not one); other failures throw. */
async function letterAt(jsm: JetStreamManager, bus: Bus, seq: number): Promise<StoredDeadLetter | undefined> {
  const stored = await jsm.streams.getMessage(bus.ns.stream('DEADLETTER'), { seq }).catch((err: unknown) => {
    // Anything else (a timeout, a refusal) would make a page silently shorter and its cursor skip letters.
    if ((err as { api_error?: { err_code?: number } }).api_error?.err_code === NO_MESSAGE_FOUND) return undefined;
    throw err;
  });
  if (!stored) return undefined;
  const relative = bus.ns.relative(stored.subject) ?? stored.subject;
  const prefix = SUBJECTS.deadLetter.build('');
  if (!relative.startsWith(prefix)) return undefined;
  let parsed;
  try {
    parsed = DeadLetterSchema.safeParse(stored.json());
  } catch {
    return undefined;
  }
  if (!parsed.success) return undefined;
  return { seq, source: relative.slice(prefix.length), storedAt: Math.floor(stored.time.getTime()), letter: parsed.data };
}

/** The dead letter at `seq` in the DEADLETTER stream, or undefined when it is not kept. */
export async function readDeadLetter(bus: Bus, seq: number): Promise<StoredDeadLetter | undefined> {
  return letterAt(await manager(bus), bus, seq);
}

/**
 * Up to `limit` dead letters older than `before` (the newest when absent), newest first, of `source` only when
 * given. A page looks at no more than MAX_SCAN messages; `before` then says where to go on.
 */
export async function readDeadLetters(bus: Bus, q: { limit: number; source?: string; before?: number }): Promise<DeadLetterPage> {
  const jsm = await manager(bus);
  const { state } = await jsm.streams.info(bus.ns.stream('DEADLETTER'));
  // An empty stream's first sequence is 0, which the server refuses to be asked for.
  if (state.messages === 0) return { letters: [] };
  const letters: StoredDeadLetter[] = [];
  let next = Math.min(state.last_seq, (q.before ?? Number.MAX_SAFE_INTEGER) - 1);
  const floor = Math.max(state.first_seq, 1, next - MAX_SCAN + 1);
  scan: while (next >= floor) {
    const seqs = Array.from({ length: Math.min(SCAN_PARALLELISM, next - floor + 1) }, (_, i) => next - i);
    const found = await Promise.all(seqs.map((seq) => letterAt(jsm, bus, seq)));
    for (let i = 0; i < seqs.length; i++) {
      const letter = found[i];
      if (!letter || (q.source !== undefined && letter.source !== q.source)) continue;
      letters.push(letter);
      if (letters.length >= q.limit) {
        next = seqs[i]! - 1;
        break scan;
      }
    }
    next -= seqs.length;
  }
  return next >= state.first_seq ? { letters, before: next + 1 } : { letters };
}

/**
 * Removes the dead letter at `seq` (one replayed), tried a few times; one already gone counts as removed. Why it could
 * not be removed, if it could not.
 */
export async function removeDeadLetter(bus: Bus, seq: number): Promise<string | undefined> {
  const jsm = await manager(bus);
  let last = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await jsm.streams.deleteMessage(bus.ns.stream('DEADLETTER'), seq, false);
      return undefined;
    } catch (err) {
      if (!(await letterAt(jsm, bus, seq).catch(() => true))) return undefined;
      last = (err as Error).message;
      await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)));
    }
  }
  return last;
}
