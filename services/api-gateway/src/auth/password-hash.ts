import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';

/** `Algorithm.Argon2id` of @node-rs/argon2, a const enum its types do not let a module import. */
const ARGON2ID = 2;

/**
 * Argon2id at OWASP's first recommended setting (19 MiB, 2 passes, 1 lane): about 18 ms a check on this 2-core
 * machine, where scrypt at OWASP's N=2^17 took about a second. @node-rs/argon2 runs it off the event loop.
 */
const ARGON2 = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
/** The PHC prefix of a hash at today's setting; any other stored hash is upgraded at its next successful login. */
const CURRENT = `$argon2id$v=19$m=${ARGON2.memoryCost},t=${ARGON2.timeCost},p=${ARGON2.parallelism}$`;

const SCRYPT_KEY_BYTES = 32;
function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, SCRYPT_KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), self-describing so the cost can rise later. */
export function hashPassword(password: string): Promise<string> {
  return argon2Hash(password, ARGON2);
}

/** Checks a password against a stored hash: Argon2id, or `scrypt$N$r$p$salt$hash` as earlier versions stored them. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (stored.startsWith('$argon2')) return argon2Verify(stored, password).catch(() => false);
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await scrypt(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p) });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Whether a stored hash is weaker than today's setting (scrypt, or Argon2 at other costs). */
export function needsRehash(stored: string): boolean {
  return !stored.startsWith(CURRENT);
}

/** A hash to compare against when the user does not exist, so a login takes as long either way. */
export const DUMMY_HASH = await hashPassword(randomBytes(16).toString('base64'));
