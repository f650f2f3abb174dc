import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from './connection.ts';
import { CredentialStore } from './credentials.ts';
import { readEnvironment } from './environment.ts';
import { NotAuthenticatedError, NotFoundError, UsageError } from './errors.ts';

const dir = await mkdtemp(join(tmpdir(), 'tmon-cred-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('the environment', () => {
  it('puts the login under XDG_CONFIG_HOME, else ~/.config, and reads TMON_URL and TMON_TOKEN', () => {
    expect(readEnvironment({ XDG_CONFIG_HOME: '/x', HOME: '/h' }).configDir).toBe('/x/tmon');
    expect(readEnvironment({ HOME: '/h', TMON_URL: 'http://gw:1', TMON_TOKEN: 't' })).toEqual({ configDir: '/h/.config/tmon', url: 'http://gw:1', token: 't' });
  });
});

describe('CredentialStore and connect', () => {
  const store = new CredentialStore(join(dir, 'tmon'));
  const env = { configDir: store.configDir };
  const future = new Date(Date.now() + 3_600_000).toISOString();

  it('writes the login readable by its owner only and reads it back', async () => {
    await store.write({ url: 'http://127.0.0.1:9', username: 'ann', token: 'tok', expiresAt: future });
    expect((await stat(store.path)).mode & 0o777).toBe(0o600);
    expect((await stat(store.configDir)).mode & 0o777).toBe(0o700);
    expect(await store.read()).toMatchObject({ username: 'ann', token: 'tok' });
    expect(JSON.parse(await readFile(store.path, 'utf8')).url).toBe('http://127.0.0.1:9');
  });

  it('uses the stored gateway and token unless --url/--token-file or the environment say otherwise', async () => {
    expect((await connect({}, env, store)).base.href).toBe('http://127.0.0.1:9/');
    expect((await connect({}, { ...env, url: 'http://other:1' }, store)).base.href).toBe('http://other:1/');
    expect((await connect({ url: 'http://flag:2' }, { ...env, url: 'http://other:1' }, store)).base.href).toBe('http://flag:2/');
  });

  it('sends the token of --token-file (trimmed) over TMON_TOKEN and the stored login, and refuses an empty or missing file', async () => {
    // A gateway that answers with the credential it was sent.
    const server = createServer((req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ authorization: req.headers.authorization })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const z = (await import('zod')).z;
    const sent = async (opts: { tokenFile?: string }, token?: string) =>
      ((await (await connect({ url, ...opts }, { ...env, ...(token ? { token } : {}) }, store)).get('/x', z.object({ authorization: z.string() }))).authorization);
    try {
      const file = join(dir, 'token');
      await writeFile(file, 'tmk_from_file\n', { mode: 0o600 });
      expect(await sent({ tokenFile: file }, 'from-env')).toBe('Bearer tmk_from_file');
      expect(await sent({}, 'from-env')).toBe('Bearer from-env');
      await writeFile(join(dir, 'empty'), ' \n');
      await expect(connect({ url, tokenFile: join(dir, 'empty') }, env, store)).rejects.toBeInstanceOf(UsageError);
      await expect(connect({ url, tokenFile: join(dir, 'missing') }, env, store)).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('does not send the stored token to another gateway, nor an expired one', async () => {
    const other = await connect({ url: 'http://other:1' }, env, store);
    await expect(other.get('/x', (await import('zod')).z.unknown())).rejects.toThrow(/stored login is for http:\/\/127.0.0.1:9.*run tmon login/);
    const later = await connect({}, env, store, Date.now() + 7_200_000);
    await expect(later.get('/x', (await import('zod')).z.unknown())).rejects.toBeInstanceOf(NotAuthenticatedError);
  });

  it('treats a damaged file as no login and removes it on logout', async () => {
    await writeFile(store.path, 'not json');
    expect(await store.read()).toBeUndefined();
    await store.remove();
    await expect(stat(store.path)).rejects.toThrow(/ENOENT/);
  });
});
