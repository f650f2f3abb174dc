import { generateKeyPairSync, randomBytes, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { lock } from 'proper-lockfile';
import { z } from 'zod';
import { renameDurably, synced } from '@terminusa/runtime';
import { KeyMissingError, KeyringFileError } from '../errors.ts';
import { readSigningKeyFile, signingKeyId, SigningKeys, type PublicSigningKey } from './signing-key.ts';

const DAY_MS = 86_400_000;

/**
 * The keyring's rewrite lock (`<keyring>.lock`, a directory, so it works on shared volumes): taken over when its
 * holder stopped refreshing it for a minute (a crashed replica; a minute, not seconds, so a replica whose clock is
 * ahead of the volume's does not take a live lock), and waited for long enough to see that happen.
 */
const KEYRING_LOCK = { realpath: false, stale: 60_000, retries: { retries: 400, minTimeout: 50, maxTimeout: 250 } };

const KeyringFileSchema = z.strictObject({
  version: z.literal(1),
  dataKeys: z.array(z.strictObject({ id: z.string(), createdAt: z.string(), key: z.string() })).min(1),
  /** Absent when the signing key is a file of its own (`backup.signingKey`). */
  signingKeys: z.array(z.strictObject({ id: z.string(), createdAt: z.string(), privateKey: z.string(), publicKey: z.string() })).optional(),
});
type KeyringFile = z.infer<typeof KeyringFileSchema>;

/** A 256-bit data key with the id recorded in every chunk it encrypted. */
export interface DataKey {
  id: string;
  key: Buffer;
  createdAt: Date;
}

/** How to open a keyring. */
export interface KeyringOptions {
  /** The signing key file (`backup.signingKey`); unset, the keyring's own signing keys sign and check. */
  signingKeyFile?: string | undefined;
  now?: Date;
}

/**
 * The backup keys: AES-256 data keys (a new one every rotation period; old ones stay so old backups can be
 * restored) and the Ed25519 key that signs manifests, either from the keyring file itself or, with
 * `signingKeyFile`, from a file of its own that this service only reads. Files have mode 0600; no key is logged.
 */
export class Keyring {
  private constructor(
    private readonly path: string,
    private file: KeyringFile,
    private readonly signing: SigningKeys,
    /** Ids of signing keys the keyring file holds but that sign and check nothing, a signing key file being set. */
    readonly ignoredSigningKeyIds: readonly string[],
  ) {}

  /**
   * Opens the keyring, creating it when it does not exist: with a first data key, and a signing key unless
   * `signingKeyFile` is set. The signing key file is read first and must exist and be whole.
   */
  static async open(path: string, options: KeyringOptions = {}): Promise<Keyring> {
    const now = options.now ?? new Date();
    const separate = options.signingKeyFile === undefined ? undefined : await readSigningKeyFile(options.signingKeyFile);
    const file = (await readKeyringFile(path)) ?? (await createKeyringFile(path, separate === undefined, now));
    if (separate) return new Keyring(path, file, separate, (file.signingKeys ?? []).map((k) => k.id));
    if (!file.signingKeys?.length) throw new KeyringFileError(path, 'holds no signing key: set backup.signingKey to the signing key file that goes with it');
    const newest = file.signingKeys[file.signingKeys.length - 1]!;
    return new Keyring(path, file, new SigningKeys({ id: newest.id, privateKey: createPrivateKey(newest.privateKey) }, keyringPublicKeys(file), 'the keyring'), []);
  }

  /**
   * The public keys of the signing keys the keyring file holds, without opening it for use; none when it does
   * not exist. `tmon-backup signing-key create` keeps them so backups they signed still verify.
   */
  static async signingPublicKeys(path: string): Promise<PublicSigningKey[]> {
    const file = await readKeyringFile(path);
    return file ? keyringPublicKeys(file) : [];
  }

  /** The newest data key: the one new backups are encrypted with. */
  current(): DataKey {
    const k = this.file.dataKeys[this.file.dataKeys.length - 1]!;
    return { id: k.id, key: Buffer.from(k.key, 'base64'), createdAt: new Date(k.createdAt) };
  }

  /** A data key by id, for decrypting an older backup. */
  dataKey(id: string): Buffer {
    const k = this.file.dataKeys.find((d) => d.id === id);
    if (!k) throw new KeyMissingError(id);
    return Buffer.from(k.key, 'base64');
  }

  /** The key that signs new manifests. */
  signingKey(): { id: string; privateKey: KeyObject } {
    return this.signing.current;
  }

  /** The public key that checks a manifest signed with `id`. */
  verifyKey(id: string): KeyObject {
    return this.signing.verifyKey(id);
  }

  /** Ids of every data key, oldest first. */
  dataKeyIds(): string[] {
    return this.file.dataKeys.map((k) => k.id);
  }

  /** True when the current data key is older than `rotationDays`. */
  needsRotation(rotationDays: number, now = new Date()): boolean {
    return now.getTime() - this.current().createdAt.getTime() >= rotationDays * DAY_MS;
  }

  /** Adds a new current data key; the file is replaced atomically and keeps mode 0600. */
  async rotate(now = new Date()): Promise<DataKey> {
    const added = newDataKey(now);
    await this.update((file) => ({ ...file, dataKeys: [...file.dataKeys, added] }));
    // A backup is sealed with this key next: it must be on disk, whatever another writer did.
    if (!(await readKeyringFile(this.path))?.dataKeys.some((k) => k.id === added.id)) throw new KeyringFileError(this.path, 'was rewritten by another replica at the same time: the new data key is not in it');
    return { id: added.id, key: Buffer.from(added.key, 'base64'), createdAt: new Date(added.createdAt) };
  }

  /**
   * Removes the signing keys the keyring file still holds though a signing key file is set, so a copy of the
   * keyring can sign nothing. Refused while a backup one of them signed would no longer verify, i.e. while the
   * signing key file does not keep its public key.
   */
  async dropIgnoredSigningKeys(): Promise<string[]> {
    const kept = this.file.signingKeys ?? [];
    if (this.ignoredSigningKeyIds.length === 0) return [];
    const untrusted = kept.filter((k) => !this.signing.trusts(k.id, createPublicKey(k.publicKey))).map((k) => k.id);
    if (untrusted.length > 0) {
      throw new KeyringFileError(this.path, `holds signing keys ${untrusted.join(', ')}, whose public keys ${this.signing.source} does not keep: backups they signed would no longer verify (make the signing key file with \`tmon-backup signing-key create\`, which keeps them)`);
    }
    await this.update((file) => ({ version: file.version, dataKeys: file.dataKeys }));
    return kept.map((k) => k.id);
  }

  /**
   * Rewrites the file with `change` applied to what it holds now, under a lock: two replicas rotating at once (a
   * scheduled backup and one asked for) each wrote the file they had read, and the data key of the first, which
   * its backup was sealed with, was gone.
   */
  private async update(change: (file: KeyringFile) => KeyringFile): Promise<void> {
    let compromised: Error | undefined;
    const release = await lock(this.path, { ...KEYRING_LOCK, onCompromised: (err) => void (compromised = err) });
    try {
      const file = change((await readKeyringFile(this.path)) ?? this.file);
      // A name of its own (containers on one volume all run as pid 1), and on disk before it counts: a data key
      // lost to a power cut after backups were sealed with it would make them unreadable.
      const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, JSON.stringify(file, null, 2), { mode: 0o600 });
      if (compromised) {
        await unlink(tmp);
        throw new KeyringFileError(this.path, `was not rewritten: its lock was taken over meanwhile (${compromised.message})`);
      }
      await renameDurably(tmp, this.path);
      this.file = file;
    } finally {
      // A lock taken over is not ours to release.
      await release().catch(() => undefined);
    }
  }
}

/** The keyring file, or undefined when there is none; errors say what is wrong without quoting a key. */
async function readKeyringFile(path: string): Promise<KeyringFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new KeyringFileError(path, `is unreadable (${code ?? 'error'})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the fault, which may be key material.
    throw new KeyringFileError(path, 'is unreadable: not JSON');
  }
  const parsed = KeyringFileSchema.safeParse(raw);
  if (!parsed.success) throw new KeyringFileError(path, `is unreadable: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Creates the keyring file with a first data key (and signing key, with `withSigningKey`); another replica's, if it was first. */
async function createKeyringFile(path: string, withSigningKey: boolean, now: Date): Promise<KeyringFile> {
  const file: KeyringFile = { version: 1, dataKeys: [newDataKey(now)] };
  if (withSigningKey) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    file.signingKeys = [
      {
        id: signingKeyId(now),
        createdAt: now.toISOString(),
        privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
        publicKey: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      },
    ];
  }
  await mkdir(dirname(path), { recursive: true });
  // Written whole under a name of its own, then linked into place: a replica starting beside this one either
  // finds no keyring or a complete one (created in place with 'wx', it could read it half written).
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(file, null, 2), { mode: 0o600 });
  await synced(tmp);
  try {
    await link(tmp, path);
    await synced(dirname(path));
    return file;
  } catch (err) {
    // Another replica created it first; use theirs.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const theirs = await readKeyringFile(path);
    if (!theirs) throw err;
    return theirs;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

function keyringPublicKeys(file: KeyringFile): PublicSigningKey[] {
  return (file.signingKeys ?? []).map((k) => ({ id: k.id, createdAt: k.createdAt, publicKey: createPublicKey(k.publicKey) }));
}

function newDataKey(now: Date): KeyringFile['dataKeys'][number] {
  return { id: `key-${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`, createdAt: now.toISOString(), key: randomBytes(32).toString('base64') };
}
