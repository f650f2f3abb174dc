import { generateKeyPairSync, randomBytes, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { KeyMissingError } from '../errors.ts';

const DAY_MS = 86_400_000;

const KeyringFileSchema = z.strictObject({
  version: z.literal(1),
  dataKeys: z.array(z.strictObject({ id: z.string(), createdAt: z.string(), key: z.string() })).min(1),
  signingKeys: z.array(z.strictObject({ id: z.string(), createdAt: z.string(), privateKey: z.string(), publicKey: z.string() })).min(1),
});
type KeyringFile = z.infer<typeof KeyringFileSchema>;

/** A 256-bit data key with the id recorded in every chunk it encrypted. */
export interface DataKey {
  id: string;
  key: Buffer;
  createdAt: Date;
}

/**
 * The backup keys: AES-256 data keys (a new one every rotation period; old ones stay so old backups can be
 * restored) and an Ed25519 key that signs manifests. Kept in one JSON file with mode 0600, never logged.
 */
export class Keyring {
  private constructor(
    private readonly path: string,
    private file: KeyringFile,
  ) {}

  /** Opens the keyring, creating it with a first data key and signing key when it does not exist. */
  static async open(path: string, now = new Date()): Promise<Keyring> {
    try {
      return new Keyring(path, KeyringFileSchema.parse(JSON.parse(await readFile(path, 'utf8'))));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`keyring ${path} is unreadable: ${(err as Error).message}`);
    }
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const file: KeyringFile = {
      version: 1,
      dataKeys: [newDataKey(now)],
      signingKeys: [
        {
          id: keyId('sig', now),
          createdAt: now.toISOString(),
          privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
          publicKey: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
        },
      ],
    };
    await mkdir(dirname(path), { recursive: true });
    // Written whole under a name of its own, then linked into place: a replica starting beside this one either
    // finds no keyring or a complete one (created in place with 'wx', it could read it half written).
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(file, null, 2), { mode: 0o600 });
    try {
      await link(tmp, path);
      return new Keyring(path, file);
    } catch (err) {
      // Another replica created it first; use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return Keyring.open(path, now);
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
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
    const k = this.file.signingKeys[this.file.signingKeys.length - 1]!;
    return { id: k.id, privateKey: createPrivateKey(k.privateKey) };
  }

  /** The public key that checks a manifest signed with `id`. */
  verifyKey(id: string): KeyObject {
    const k = this.file.signingKeys.find((s) => s.id === id);
    if (!k) throw new KeyMissingError(id);
    return createPublicKey(k.publicKey);
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
    this.file = { ...this.file, dataKeys: [...this.file.dataKeys, newDataKey(now)] };
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(this.file, null, 2), { mode: 0o600 });
    await rename(tmp, this.path);
    return this.current();
  }
}

function keyId(kind: string, now: Date): string {
  return `${kind}-${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`;
}

function newDataKey(now: Date): KeyringFile['dataKeys'][number] {
  return { id: keyId('key', now), createdAt: now.toISOString(), key: randomBytes(32).toString('base64') };
}
