import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { KeyMissingError, SigningKeyFileError } from '../errors.ts';
import { synced } from '@terminusa/runtime';

const PublicKeySchema = z.strictObject({ id: z.string().min(1), createdAt: z.string(), publicKey: z.string() });

const SigningKeyFileSchema = z.strictObject({
  version: z.literal(1),
  signingKey: z.strictObject({ id: z.string().min(1), createdAt: z.string(), privateKey: z.string(), publicKey: z.string() }),
  /** Public keys of the signing keys before this one: they check older backups and can sign nothing. */
  retired: z.array(PublicKeySchema).default([]),
});
type SigningKeyFile = z.infer<typeof SigningKeyFileSchema>;

/** A signing key's public half with its id, as kept for checking the backups it signed. */
export interface PublicSigningKey {
  id: string;
  createdAt: string;
  publicKey: KeyObject;
}

/** The key that signs new manifests and the public keys that check manifests signed before. */
export class SigningKeys {
  private readonly publicKeys: ReadonlyMap<string, KeyObject>;

  constructor(
    readonly current: { id: string; privateKey: KeyObject },
    /** Every public key that checks manifests: the current key's and the retired ones. */
    readonly trusted: readonly PublicSigningKey[],
    /** Where the keys come from, for messages. */
    readonly source: string,
  ) {
    this.publicKeys = new Map(trusted.map((k) => [k.id, k.publicKey]));
  }

  /** The public key that checks a manifest signed with `id`. */
  verifyKey(id: string): KeyObject {
    const key = this.publicKeys.get(id);
    if (!key) throw new KeyMissingError(id, this.source);
    return key;
  }

  /** True when `publicKey` is the one trusted for `id`. */
  trusts(id: string, publicKey: KeyObject): boolean {
    return this.publicKeys.get(id)?.equals(publicKey) ?? false;
  }
}

/** The SHA-256 fingerprint of a public key (of its DER SubjectPublicKeyInfo), as `SHA256:<base64>`. */
export function fingerprint(publicKey: KeyObject): string {
  return `SHA256:${createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('base64').replace(/=+$/, '')}`;
}

/** A new signing key id, dated like the data keys' ids. */
export function signingKeyId(now: Date): string {
  return `sig-${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`;
}

/**
 * Reads a signing key file and checks it whole: an Ed25519 private key, its own public key beside it, and the
 * retired public keys. Errors name the file and what is wrong, never a byte of the keys.
 */
export async function readSigningKeyFile(path: string): Promise<SigningKeys> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SigningKeyFileError(path, 'does not exist; make it with `tmon-backup signing-key create <file>`');
    throw new SigningKeyFileError(path, `cannot be read (${code ?? 'error'})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the fault, which may be key material.
    throw new SigningKeyFileError(path, 'is not JSON');
  }
  if (raw !== null && typeof raw === 'object' && 'dataKeys' in raw) throw new SigningKeyFileError(path, 'is a keyring (it holds data keys), not a signing key file');
  const parsed = SigningKeyFileSchema.safeParse(raw);
  if (!parsed.success) throw new SigningKeyFileError(path, `is not a signing key file: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  const { signingKey, retired } = parsed.data;
  const privateKey = parseKey(path, 'signingKey.privateKey', () => createPrivateKey(signingKey.privateKey));
  const publicKey = parseKey(path, 'signingKey.publicKey', () => createPublicKey(signingKey.publicKey));
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new SigningKeyFileError(path, `signingKey.privateKey is ${privateKey.asymmetricKeyType ?? 'not an asymmetric key'}, not Ed25519`);
  if (!createPublicKey(privateKey).equals(publicKey)) throw new SigningKeyFileError(path, 'signingKey.publicKey is not the public half of signingKey.privateKey');
  const trusted: PublicSigningKey[] = [{ id: signingKey.id, createdAt: signingKey.createdAt, publicKey }];
  for (const [i, k] of retired.entries()) {
    if (trusted.some((t) => t.id === k.id)) throw new SigningKeyFileError(path, `retired.${i}: id ${k.id} is listed twice`);
    trusted.push({ id: k.id, createdAt: k.createdAt, publicKey: parseKey(path, `retired.${i}.publicKey`, () => createPublicKey(k.publicKey)) });
  }
  return new SigningKeys({ id: signingKey.id, privateKey }, trusted, `the signing key file ${path}`);
}

/** What `createSigningKeyFile` wrote, all of it public. */
export interface CreatedSigningKey {
  id: string;
  fingerprint: string;
  publicKeyPem: string;
  retired: string[];
}

/**
 * Writes a new Ed25519 signing key to `path` (mode 0600), keeping `retired` public keys beside it so the backups
 * they signed still verify. Refuses to replace an existing file: a new key goes to a new file.
 */
export async function createSigningKeyFile(path: string, retired: readonly PublicSigningKey[], now = new Date()): Promise<CreatedSigningKey> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicKeyPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const file: SigningKeyFile = {
    version: 1,
    signingKey: { id: signingKeyId(now), createdAt: now.toISOString(), privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicKey: publicKeyPem },
    retired: retired.map((k) => ({ id: k.id, createdAt: k.createdAt, publicKey: k.publicKey.export({ format: 'pem', type: 'spki' }).toString() })),
  };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Written whole under a name of its own, then linked into place: the link fails if the file exists, and
  // nobody ever reads a half-written key.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(file, null, 2), { mode: 0o600 });
  // On disk before it is in place: backups signed with a key a power cut took back would not verify.
  await synced(tmp);
  try {
    await link(tmp, path);
    await synced(dirname(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new SigningKeyFileError(path, 'exists already; write a new signing key to a new file (it keeps the public keys of the current one)');
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  return { id: file.signingKey.id, fingerprint: fingerprint(publicKey), publicKeyPem, retired: retired.map((k) => k.id) };
}

function parseKey(path: string, field: string, parse: () => KeyObject): KeyObject {
  try {
    return parse();
  } catch {
    // OpenSSL's message says nothing useful here and the key text must not be echoed.
    throw new SigningKeyFileError(path, `${field} is not a PEM key`);
  }
}
