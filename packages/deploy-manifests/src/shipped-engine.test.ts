/**
 * VictoriaMetrics exactly as docker-compose.yml starts it: the `sh -c` entrypoint reads the three secret files and
 * hands them to the server in its environment, the command holds VM_SINGLE_NODE_ARGS (the StatefulSet's flags).
 * Only the secret directory, the data path and the port move, and the image's binary is Debian's. Each service
 * configured from its compose environment and secret files gets what it needs of the engine and nothing more.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, type ServiceName } from '@terminusa/config';
import { VictoriaMetrics } from '@terminusa/metric-store';
import { freePort, waitFor } from '@terminusa/testkit';
import { secretGrants } from './manifests.ts';
import { ENGINE_CREDENTIALS, ENGINE_SECRET_NAME, ENGINE_SNAPSHOT_TAKERS, VM_READERS, VM_SINGLE_NODE_ARGS } from './victoria-metrics.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as any;
const secret = (name: string) => `${name}-${process.pid}`;

let dir: string;
let url: string;
let server: ChildProcess;
let serverLog = '';

/** The compose entrypoint's script with `$$` unescaped, the secrets under `secretDir` and Debian's binary. */
function engineScript(secretDir: string): string {
  const entrypoint = compose.services['victoria-metrics'].entrypoint as string[];
  expect(entrypoint.slice(0, 2)).toEqual(['sh', '-c']);
  const script = String(entrypoint[2]).replace(/\$\$/g, '$');
  expect(script).toContain('exec /victoria-metrics-prod "$@"');
  return script.replaceAll('/run/secrets/', `${secretDir}/`).replace('/victoria-metrics-prod', 'victoria-metrics');
}

/** The engine client of service `name`, configured from its compose environment and secret files. */
function engineOf(name: ServiceName): VictoriaMetrics {
  // Its engine settings only: the other secrets' files are not written here (shipped-redis and shipped-nats read those).
  const engineSettings = Object.entries<any>(compose.services[name].environment).filter(([k]) => k.startsWith('VM_'));
  const env = Object.fromEntries(engineSettings.map(([k, v]) => [k, String(v).replace('/run/secrets/', `${dir}/secrets/`)]));
  return new VictoriaMetrics({ ...loadConfig({ env: { ...env, VM_URL: url } }).storage.engine, syncIntervalMs: 0 });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tmon-shipped-engine-'));
  mkdirSync(join(dir, 'secrets'));
  // As `printf '%s' "$(openssl rand -hex 24)" > deploy/secrets/<name>.txt` writes them: no newline.
  for (const name of compose.services['victoria-metrics'].secrets as string[]) writeFileSync(join(dir, 'secrets', name), secret(name));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const command = (compose.services['victoria-metrics'].command as string[]).map((f) =>
    f.startsWith('-storageDataPath=') ? `-storageDataPath=${join(dir, 'data')}` : f.startsWith('-httpListenAddr=') ? `-httpListenAddr=127.0.0.1:${port}` : f,
  );
  server = spawn('sh', ['-c', engineScript(join(dir, 'secrets')), 'victoria-metrics', ...command], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.on('data', (d: Buffer) => (serverLog += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
  await waitFor(async () => ((await fetch(`${url}/health`).catch(() => undefined))?.ok ? true : server.exitCode !== null ? Promise.reject(new Error(serverLog)) : undefined), 20_000, 'the engine to answer');
}, 30_000);

afterAll(() => {
  server?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the engine as docker-compose.yml ships it', () => {
  it('runs the StatefulSet’s flags, its credentials from the environment the Kubernetes Secret sets', () => {
    expect(compose.services['victoria-metrics'].command).toEqual(VM_SINGLE_NODE_ARGS);
    // The script exports one variable per credential, each from the secret of its Kubernetes key's name.
    for (const c of ENGINE_CREDENTIALS) expect(engineScript('/run/secrets')).toContain(`${c.env}="$(secret ${c.key.toLowerCase()})"`);
    expect([...compose.services['victoria-metrics'].secrets].sort()).toEqual(ENGINE_CREDENTIALS.map((c) => c.key.toLowerCase()).sort());
    // No secret on the command line: `ps` on the node shows it to every user.
    expect(VM_SINGLE_NODE_ARGS.join(' ')).not.toMatch(/password|AuthKey/);
  });

  it('does not start on a missing or empty secret, which would turn that credential off', async () => {
    for (const [name, content] of [['vm_snapshot_key', ''], ['vm_password', null]] as const) {
      const secrets = mkdtempSync(join(tmpdir(), 'tmon-shipped-engine-secrets-'));
      for (const s of compose.services['victoria-metrics'].secrets as string[]) if (s !== name || content !== null) writeFileSync(join(secrets, s), s === name ? content! : secret(s));
      const run = spawnSync('sh', ['-c', engineScript(secrets), 'victoria-metrics', '-version'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, encoding: 'utf8' });
      expect(run.status, name).toBe(1);
      expect(run.stderr, name).toContain(`secret ${name} is missing or empty`);
      rmSync(secrets, { recursive: true, force: true });
    }
  });

  it('reads a secret saved with CRLF line ends as the services do: the same password', async () => {
    const secrets = mkdtempSync(join(tmpdir(), 'tmon-shipped-engine-secrets-'));
    for (const s of compose.services['victoria-metrics'].secrets as string[]) writeFileSync(join(secrets, s), `${secret(s)}\r\n`);
    const script = engineScript(secrets).replace(/exec victoria-metrics "\$@"/, 'printf "%s|%s|%s" "$VM_httpAuth_password" "$VM_snapshotAuthKey" "$VM_deleteAuthKey"');
    const run = spawnSync('sh', ['-c', script, 'victoria-metrics'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, encoding: 'utf8' });
    expect(run.stdout).toBe(['vm_password', 'vm_snapshot_key', 'vm_delete_key'].map(secret).join('|'));
    rmSync(secrets, { recursive: true, force: true });
  });

  it('asks every API but /health for the password: nothing read or written without it', async () => {
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect((await fetch(`${url}/api/v1/query?query=vector(1)`)).status).toBe(401);
    expect((await fetch(`${url}/api/v1/import`, { method: 'POST', body: '{"metric":{"__name__":"x"},"values":[1],"timestamps":[1]}' })).status).toBe(401);
  });

  it('takes the storage’s writes and snapshots, and gives every reader its reads', async () => {
    const storage = engineOf('storage');
    const at = Date.now() - 60_000;
    await storage.sync(await storage.import(JSON.stringify({ metric: { __name__: 'shipped_engine', host: 'h1' }, values: [7], timestamps: [at] })));
    for (const name of VM_READERS) {
      expect(secretGrants(name).filter((g) => g.secret === ENGINE_SECRET_NAME).map((g) => g.env), name).toContain('VM_PASSWORD');
      expect(await engineOf(name).query('shipped_engine', at), name).toEqual([{ metric: { __name__: 'shipped_engine', host: 'h1' }, value: 7 }]);
    }
  });

  it('takes snapshots from the storage and the backup only, and deletes for nobody', async () => {
    for (const name of VM_READERS) {
      const snapshot = engineOf(name).createSnapshot();
      if (ENGINE_SNAPSHOT_TAKERS.includes(name)) await engineOf(name).deleteSnapshot(await snapshot);
      else await expect(snapshot, name).rejects.toThrow('400 the engine asks for its snapshot key');
      await expect(engineOf(name).deleteSeries('{__name__="shipped_engine"}'), name).rejects.toThrow(/delete_series: 400 .*-deleteAuthKey/);
    }
    expect(await engineOf('storage').listSnapshots()).toEqual([]);
    expect(await engineOf('storage').exportAll('{__name__="shipped_engine"}', 0, Date.now())).toHaveLength(1);
  });
});
