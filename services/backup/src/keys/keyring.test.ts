import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyMissingError, KeyringFileError, SigningKeyFileError } from '../errors.ts';
import { Keyring } from './keyring.ts';
import { createSigningKeyFile, fingerprint, readSigningKeyFile } from './signing-key.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmon-keyring-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const pemBody = (pem: string) => pem.split('\n').filter((l) => l && !l.startsWith('-----'));

/** The lines of every key in `file` (private and public PEM bodies, base64 data keys), to look for in messages. */
async function keyMaterial(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  const json = JSON.parse(text) as { signingKey?: { privateKey: string }; signingKeys?: { privateKey: string }[]; dataKeys?: { key: string }[] };
  return [
    ...(json.signingKey ? pemBody(json.signingKey.privateKey) : []),
    ...(json.signingKeys ?? []).flatMap((k) => pemBody(k.privateKey)),
    ...(json.dataKeys ?? []).map((k) => k.key),
  ];
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => expect.unreachable('expected a rejection'),
    (err: unknown) => err as Error,
  );
}

describe('a keyring with the signing key in a file of its own', () => {
  it('creates the keyring with data keys only and signs with the file’s key, which the keyring cannot stand in for', async () => {
    const signingFile = join(dir, 'signing', 'signing-key.json');
    const made = await createSigningKeyFile(signingFile, []);
    expect((await stat(signingFile)).mode & 0o777).toBe(0o600);

    const keyring = await Keyring.open(join(dir, 'keyring.json'), { signingKeyFile: signingFile });
    const onDisk = JSON.parse(await readFile(join(dir, 'keyring.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(onDisk).sort()).toEqual(['dataKeys', 'version']);
    expect(keyring.ignoredSigningKeyIds).toEqual([]);
    expect(keyring.signingKey().id).toBe(made.id);
    const message = Buffer.from('manifest');
    expect(verify(null, message, keyring.verifyKey(made.id), sign(null, message, keyring.signingKey().privateKey))).toBe(true);
    expect(fingerprint(keyring.verifyKey(made.id))).toBe(made.fingerprint);

    // The same keyring file without the signing key file has nothing to sign with.
    const alone = await rejection(Keyring.open(join(dir, 'keyring.json')));
    expect(alone).toBeInstanceOf(KeyringFileError);
    expect(alone.message).toMatch(/holds no signing key: set backup.signingKey/);
  });

  it('refuses to start on a missing signing key file, and creates no keyring then', async () => {
    const missing = join(dir, 'absent.json');
    const err = await rejection(Keyring.open(join(dir, 'keyring.json'), { signingKeyFile: missing }));
    expect(err).toBeInstanceOf(SigningKeyFileError);
    expect(err.message).toBe(`signing key file ${missing} does not exist; make it with \`tmon-backup signing-key create <file>\``);
    await expect(stat(join(dir, 'keyring.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a malformed signing key file with what is wrong, never a byte of the key', async () => {
    const good = join(dir, 'good.json');
    await createSigningKeyFile(good, []);
    const material = await keyMaterial(good);
    const file = JSON.parse(await readFile(good, 'utf8')) as { signingKey: { privateKey: string; publicKey: string } };
    const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const cases: [string, string, RegExp][] = [
      ['truncated JSON', JSON.stringify(file).slice(0, 200), /is not JSON$/],
      ['a damaged private key', JSON.stringify({ ...file, signingKey: { ...file.signingKey, privateKey: file.signingKey.privateKey.replace(/[A-Za-z]{8}/, '!!!!!!!!') } }), /signingKey.privateKey is not a PEM key$/],
      ['another key’s public half', JSON.stringify({ ...file, signingKey: { ...file.signingKey, publicKey: other } }), /signingKey.publicKey is not the public half of signingKey.privateKey$/],
      ['an RSA key', JSON.stringify({ ...file, signingKey: { ...file.signingKey, privateKey: rsa } }), /signingKey.privateKey is rsa, not Ed25519$/],
      ['an unknown field', JSON.stringify({ ...file, extra: file.signingKey.privateKey }), /is not a signing key file: \(root\): Unrecognized key: "extra"$/],
    ];
    for (const [what, text, expected] of cases) {
      const path = join(dir, `${what.replaceAll(/\W/g, '-')}.json`);
      await writeFile(path, text, { mode: 0o600 });
      const err = await rejection(Keyring.open(join(dir, 'keyring.json'), { signingKeyFile: path }));
      expect(err, what).toBeInstanceOf(SigningKeyFileError);
      expect(err.message, what).toMatch(expected);
      for (const line of material) expect(`${err.message}\n${err.stack}`, what).not.toContain(line);
    }

    // The keyring given as the signing key file by mistake.
    const keyringPath = join(dir, 'one-file-keyring.json');
    await Keyring.open(keyringPath);
    const mistaken = await rejection(Keyring.open(join(dir, 'keyring.json'), { signingKeyFile: keyringPath }));
    expect(mistaken.message).toBe(`signing key file ${keyringPath} is a keyring (it holds data keys), not a signing key file`);
    for (const line of await keyMaterial(keyringPath)) expect(mistaken.message).not.toContain(line);
  });

  it('never quotes a broken keyring file in its error', async () => {
    const path = join(dir, 'keyring.json');
    await Keyring.open(path);
    const material = await keyMaterial(path);
    await writeFile(path, (await readFile(path, 'utf8')).slice(0, 150));
    const err = await rejection(Keyring.open(path));
    expect(err.message).toBe(`keyring ${path} is unreadable: not JSON`);
    for (const line of material) expect(err.message).not.toContain(line);
  });

  it('ignores the signing key of a one-file keyring once a signing key file is set, then drops it when the file keeps its public key', async () => {
    const keyringPath = join(dir, 'keyring.json');
    const oneFile = await Keyring.open(keyringPath);
    const oldId = oneFile.signingKey().id;

    // A signing key file that does not keep the old public key: the keyring's key checks nothing.
    const bare = join(dir, 'bare.json');
    await createSigningKeyFile(bare, []);
    const withBare = await Keyring.open(keyringPath, { signingKeyFile: bare });
    expect(withBare.ignoredSigningKeyIds).toEqual([oldId]);
    expect(() => withBare.verifyKey(oldId)).toThrow(KeyMissingError);
    expect(() => withBare.verifyKey(oldId)).toThrow(`key ${oldId} is not in the signing key file ${bare}`);
    await expect(withBare.dropIgnoredSigningKeys()).rejects.toThrow(/backups they signed would no longer verify/);

    // One made from the keyring's public keys keeps them: old manifests still check, and the keyring can lose its key.
    const kept = join(dir, 'kept.json');
    const made = await createSigningKeyFile(kept, await Keyring.signingPublicKeys(keyringPath));
    expect(made.retired).toEqual([oldId]);
    const withKept = await Keyring.open(keyringPath, { signingKeyFile: kept });
    expect(withKept.signingKey().id).toBe(made.id);
    expect(withKept.verifyKey(oldId).equals(oneFile.verifyKey(oldId))).toBe(true);
    const dataKey = withKept.current().id;
    expect(await withKept.dropIgnoredSigningKeys()).toEqual([oldId]);
    const onDisk = JSON.parse(await readFile(keyringPath, 'utf8')) as { dataKeys: { id: string }[]; signingKeys?: unknown };
    expect(onDisk.signingKeys).toBeUndefined();
    expect(onDisk.dataKeys.map((k) => k.id)).toEqual([dataKey]);
    expect((await stat(keyringPath)).mode & 0o777).toBe(0o600);
    expect((await Keyring.open(keyringPath, { signingKeyFile: kept })).ignoredSigningKeyIds).toEqual([]);
  });

  it('keeps the public keys of the file it replaces, and never overwrites a signing key file', async () => {
    const first = join(dir, 'first.json');
    const a = await createSigningKeyFile(first, []);
    const second = join(dir, 'second.json');
    const b = await createSigningKeyFile(second, (await readSigningKeyFile(first)).trusted);
    expect(b.retired).toEqual([a.id]);
    const keys = await readSigningKeyFile(second);
    expect(keys.current.id).toBe(b.id);
    expect(fingerprint(keys.verifyKey(a.id))).toBe(a.fingerprint);
    const before = await readFile(first, 'utf8');
    await expect(createSigningKeyFile(first, [])).rejects.toThrow(`signing key file ${first} exists already`);
    expect(await readFile(first, 'utf8')).toBe(before);
  });
});

describe('rotation', () => {
  it('keeps every data key when replicas rotate at once: none lost, each one a backup may have been sealed with', async () => {
    const path = join(dir, 'keyring.json');
    await Keyring.open(path);
    // Each opened before any rotation, as replicas holding the keyring they read when their backup began.
    const replicas = await Promise.all(Array.from({ length: 8 }, () => Keyring.open(path)));
    const added = await Promise.all(replicas.map((k) => k.rotate()));
    const after = await Keyring.open(path);
    expect(after.dataKeyIds()).toHaveLength(9);
    for (const key of added) expect(after.dataKey(key.id)).toEqual(key.key);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });
});
