import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nkeys } from 'nats';

/**
 * A game service (or any other producer outside the suite) with its own NATS user: an NKEY, whose public key is
 * all the server's configuration holds; the seed, its only secret, stays with the producer. It may publish as its
 * own source only (`metrics.ingest.<name>`, `events.<name>.>`) and read nothing but its own inbox (`_INBOX_<name>`).
 */
export interface Producer {
  readonly name: string;
  /** The user's public NKEY (`U…`, 56 characters). */
  readonly nkey: string;
}

/** The producers of the shipped deployments, maintained by `pnpm nats:producer`; rendered into permissions.conf. */
export const PRODUCERS_FILE = fileURLToPath(new URL('../../../deploy/nats/producers.json', import.meta.url));

/** A producer's name is its source, a subject token; not starting with `_` (the suite's own dead-letter sources). */
const PRODUCER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const USER_NKEY = /^U[A-Z2-7]{55}$/;

/** Why `name` cannot be a producer (its inbox or source would be a suite user's or a suite source's), or undefined. */
export function producerNameProblem(name: string, reserved: readonly string[]): string | undefined {
  if (!PRODUCER_NAME.test(name)) return 'a producer name is letters, digits, _ and - (64 at most), starting with a letter or digit';
  if (reserved.some((r) => r.toLowerCase() === name.toLowerCase())) return `${name} is a user or a source of the suite itself`;
  return undefined;
}

/** Reads and checks a producers file: `{"producers": [{"name": "game-eu", "nkey": "U…"}]}`. */
export function readProducers(file = PRODUCERS_FILE, reserved: readonly string[] = []): Producer[] {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { producers?: unknown };
  if (!Array.isArray(parsed.producers)) throw new Error(`${file}: expected {"producers": [...]}`);
  const seen = new Set<string>();
  return parsed.producers.map((p: unknown, i) => {
    const { name, nkey } = (p ?? {}) as { name?: unknown; nkey?: unknown };
    if (typeof name !== 'string' || typeof nkey !== 'string') throw new Error(`${file}: producers[${i}] needs a name and an nkey`);
    const problem = producerNameProblem(name, reserved);
    if (problem) throw new Error(`${file}: producers[${i}]: ${problem}`);
    if (!USER_NKEY.test(nkey)) throw new Error(`${file}: producers[${i}] (${name}): nkey is not a user's public NKEY (U…)`);
    if (seen.has(name.toLowerCase())) throw new Error(`${file}: producer ${name} is listed twice`);
    seen.add(name.toLowerCase());
    return { name, nkey };
  });
}

export function writeProducers(producers: readonly Producer[], file = PRODUCERS_FILE): void {
  const sorted = [...producers].sort((a, b) => a.name.localeCompare(b.name));
  writeFileSync(file, `${JSON.stringify({ producers: sorted.map(({ name, nkey }) => ({ name, nkey })) }, null, 2)}\n`);
}

/** A new NKEY user for a producer: the public key for the server's configuration and the seed for the producer. */
export function newProducerKey(name: string): { producer: Producer; seed: string } {
  const pair = nkeys.createUser();
  return { producer: { name, nkey: pair.getPublicKey() }, seed: new TextDecoder().decode(pair.getSeed()) };
}
