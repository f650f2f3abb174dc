/**
 * VictoriaMetrics and vmauth in front of it exactly as docker-compose.yml starts them: the `sh -c` entrypoints read
 * the secret files and hand them to the servers in their environment, the engine's command holds
 * VM_SINGLE_NODE_ARGS (the StatefulSet's flags), vmauth's its configuration deploy/vmauth/auth.yml. Only the secret
 * directory, the data path, the ports and the engine's host move, and the images' binaries are Debian's. Each service
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
import { ENGINE_CREDENTIALS, ENGINE_SECRET_NAME, ENGINE_SNAPSHOT_TAKERS, engineScript as engineStartScript, VM_SINGLE_NODE_ARGS } from './victoria-metrics.ts';
import { GATE_CONFIG_FILE } from './render.ts';
import { GATE_NAME, GATE_URL, gateUserOf, gateUsers } from './engine-gate.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as any;
const secret = (name: string) => `${name}-${process.pid}`;

let dir: string;
let url: string;
let gateUrl: string;
let server: ChildProcess;
let gate: ChildProcess;
/** The services that reach the engine: the storage itself, the others through the gate. */
const ENGINE_USERS: ServiceName[] = ['storage', 'api-gateway', 'alert-manager', 'backup'];
const PATH = process.env.PATH ?? '/usr/bin:/bin';

/** The compose entrypoint's script with `$$` unescaped, the secrets under `secretDir` and Debian's binary. */
function engineScript(secretDir: string): string {
  const entrypoint = compose.services['victoria-metrics'].entrypoint as string[];
  expect(entrypoint.slice(0, 2)).toEqual(['sh', '-c']);
  const script = String(entrypoint[2]).replace(/\$\$/g, '$');
  expect(script).toContain('exec /victoria-metrics-prod "$@"');
  return script.replaceAll('/run/secrets/', `${secretDir}/`).replace('/victoria-metrics-prod', 'victoria-metrics');
}

/** vmauth's entrypoint script, the same way. */
function gateScript(secretDir: string): string {
  const entrypoint = compose.services[GATE_NAME].entrypoint as string[];
  expect(entrypoint.slice(0, 2)).toEqual(['sh', '-c']);
  return String(entrypoint[2]).replace(/\$\$/g, '$').replaceAll('/run/secrets/', `${secretDir}/`).replace('/vmauth-prod', 'vmauth');
}

/** The engine client of service `name`, configured from its compose environment and secret files. */
function engineOf(name: ServiceName): VictoriaMetrics {
  // Its engine settings only: the other secrets' files are not written here (shipped-redis and shipped-nats read those).
  const engineSettings = Object.entries<any>(compose.services[name].environment).filter(([k]) => k.startsWith('VM_'));
  // Each secret file under the name the service mounts it as (vm_password may be a gate user's password).
  for (const grant of compose.services[name].secrets as (string | { source: string; target: string })[]) {
    const [source, target] = typeof grant === 'string' ? [grant, grant] : [grant.source, grant.target];
    if (source.startsWith('vm_')) writeFileSync(join(dir, 'mounted', target), secret(source));
  }
  const env = Object.fromEntries(engineSettings.map(([k, v]) => [k, String(v).replace('/run/secrets/', `${dir}/mounted/`)]));
  const at = env.VM_URL === GATE_URL ? gateUrl : url;
  return new VictoriaMetrics({ ...loadConfig({ env: { ...env, VM_URL: at } }).storage.engine, syncIntervalMs: 0 });
}

/** How the engine client reports a call vmauth has no route for (vmauth's own answer quotes the request, keys and all). */
const NO_ROUTE = /: 400 vmauth in front of the engine does not let this service’s user make this call/;

/** The `Authorization` header of a Basic-auth user. */
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

/** Runs a start script (`sh -c`) with its arguments; fails the wait if it exits first. */
function run(script: string, name: string, args: string[]): { process: ChildProcess; log: () => string } {
  let log = '';
  const child = spawn('sh', ['-c', script, name, ...args], { env: { PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  return { process: child, log: () => log };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tmon-shipped-engine-'));
  mkdirSync(join(dir, 'secrets'));
  mkdirSync(join(dir, 'mounted'));
  // As `printf '%s' "$(openssl rand -hex 24)" > deploy/secrets/<name>.txt` writes them: no newline.
  for (const name of [...compose.services['victoria-metrics'].secrets, ...compose.services[GATE_NAME].secrets] as string[]) writeFileSync(join(dir, 'secrets', name), secret(name));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const command = (compose.services['victoria-metrics'].command as string[]).map((f) =>
    f.startsWith('-storageDataPath=') ? `-storageDataPath=${join(dir, 'data')}` : f.startsWith('-httpListenAddr=') ? `-httpListenAddr=127.0.0.1:${port}` : f,
  );
  const engine = run(engineScript(join(dir, 'secrets')), 'victoria-metrics', command);
  server = engine.process;
  await waitFor(async () => ((await fetch(`${url}/health`).catch(() => undefined))?.ok ? true : server.exitCode !== null ? Promise.reject(new Error(engine.log())) : undefined), 20_000, 'the engine to answer');
  // vmauth with the shipped configuration, its upstream the engine started above.
  writeFileSync(join(dir, 'auth.yml'), readFileSync(GATE_CONFIG_FILE, 'utf8').replaceAll('http://victoria-metrics:8428', url));
  const gatePort = await freePort();
  gateUrl = `http://127.0.0.1:${gatePort}`;
  const flags = (compose.services[GATE_NAME].command as string[]).map((f) =>
    f.startsWith('-auth.config=') ? `-auth.config=${join(dir, 'auth.yml')}` : f.startsWith('-httpListenAddr=') ? `-httpListenAddr=127.0.0.1:${gatePort}` : f,
  );
  const started = run(gateScript(join(dir, 'secrets')), GATE_NAME, flags);
  gate = started.process;
  await waitFor(async () => ((await fetch(`${gateUrl}/health`).catch(() => undefined))?.ok ? true : gate.exitCode !== null ? Promise.reject(new Error(started.log())) : undefined), 20_000, 'vmauth to answer');
}, 30_000);

afterAll(() => {
  gate?.kill('SIGKILL');
  server?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the engine as docker-compose.yml ships it', () => {
  it('runs the StatefulSet’s flags and start script, its credentials from the files the Kubernetes Secret mounts', () => {
    expect(compose.services['victoria-metrics'].command).toEqual(VM_SINGLE_NODE_ARGS);
    expect(engineScript('/run/secrets')).toBe(engineStartScript('victoria-metrics-prod').replace('/victoria-metrics-prod', 'victoria-metrics'));
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

  it('takes the storage’s writes and snapshots, and gives the gateway and the alert-manager every read they make through vmauth', async () => {
    const storage = engineOf('storage');
    const at = Date.now() - 60_000;
    await storage.sync(await storage.import(JSON.stringify({ metric: { __name__: 'shipped_engine', host: 'h1' }, values: [7], timestamps: [at] })));
    for (const name of ['api-gateway', 'alert-manager'] as const) {
      expect(secretGrants(name).filter((g) => g.secret === ENGINE_SECRET_NAME), name).toEqual([{ env: 'VM_PASSWORD', secret: ENGINE_SECRET_NAME, key: 'VM_READER_PASSWORD' }]);
      const reader = engineOf(name);
      expect(await reader.query('shipped_engine', at), name).toEqual([{ metric: { __name__: 'shipped_engine', host: 'h1' }, value: 7 }]);
      // History (export), names, the series counts, and the Prometheus API the gateway forwards.
      expect((await reader.exportAll('{__name__="shipped_engine"}', 0, Date.now())).map((x) => x.values), name).toEqual([[7]]);
      expect(await reader.names(at - 60_000, Date.now()), name).toContain('shipped_engine');
      expect((await reader.seriesCountByName(at)).get('shipped_engine'), name).toBe(1);
      expect(await reader.series('{__name__="shipped_engine"}', 0, Date.now()), name).toEqual([{ __name__: 'shipped_engine', host: 'h1' }]);
      for (const [path, params] of [
        ['/api/v1/query_range', { query: 'shipped_engine', start: String(at / 1000 - 60), end: String(at / 1000), step: '15' }],
        ['/api/v1/labels', {}],
        ['/api/v1/label/host/values', {}],
        ['/api/v1/metadata', {}],
      ] as const) {
        expect((await reader.prometheusApi(path, new URLSearchParams(params))).status, `${name} ${path}`).toBe(200);
      }
    }
  });

  it('lets a reader through vmauth write nothing, snapshot nothing and delete nothing; the backup only take its snapshots', async () => {
    const reader = engineOf('api-gateway');
    const backup = engineOf('backup');
    const line = JSON.stringify({ metric: { __name__: 'shipped_engine_forged', host: 'h1' }, values: [1], timestamps: [Date.now()] });
    for (const [who, client] of [['reader', reader], ['backup', backup]] as const) {
      // Its client's first write takes a snapshot (the storage's durability), refused already; the import itself too.
      await expect(client.import(line), who).rejects.toThrow(NO_ROUTE);
      for (const path of ['/api/v1/import', '/api/v1/write', '/api/v1/import/native']) {
        const res = await fetch(`${gateUrl}${path}`, { method: 'POST', body: line, headers: basic(who, secret(`vm_${who}_password`)) });
        expect([res.status, await res.text()], `${who} ${path}`).toEqual([400, expect.stringContaining('missing route')]);
      }
      await expect(client.deleteSeries('{__name__="shipped_engine"}'), who).rejects.toThrow(NO_ROUTE);
    }
    await expect(reader.createSnapshot()).rejects.toThrow(NO_ROUTE);
    await expect(backup.query('shipped_engine', Date.now())).rejects.toThrow(NO_ROUTE);
    await expect(backup.exportAll('{__name__="shipped_engine"}', 0, Date.now())).rejects.toThrow(NO_ROUTE);
    await expect(backup.listSnapshots()).rejects.toThrow(NO_ROUTE);
    await backup.deleteSnapshot(await backup.createSnapshot());
    expect(await engineOf('storage').listSnapshots()).toEqual([]);
    // A path that climbs out of an allowed one is cleaned first, and lands on no route.
    const climbing = await fetch(`${gateUrl}/api/v1/label/%2e%2e/%2e%2e/%2e%2e/import`, { method: 'POST', body: line, headers: basic('reader', secret('vm_reader_password')) });
    expect(climbing.status).toBe(400);
    expect(await engineOf('storage').exportAll('{__name__="shipped_engine_forged"}', 0, Date.now())).toEqual([]);
  });

  it('lets nobody through vmauth with another user’s password, the engine’s own or none', async () => {
    for (const headers of [basic('reader', secret('vm_backup_password')), basic('backup', secret('vm_reader_password')), basic('terminusa', secret('vm_password')), basic('reader', ''), {}]) {
      const res = await fetch(`${gateUrl}/api/v1/query?query=vector(1)`, { headers });
      expect(res.status, JSON.stringify(headers)).toBeGreaterThanOrEqual(400);
      expect(await res.text()).not.toContain('"status":"success"');
    }
  });

  it('does not start vmauth on a missing or empty password, which would let anyone in as that user', () => {
    for (const name of compose.services[GATE_NAME].secrets as string[]) {
      for (const content of ['', '\r\n', null]) {
        const secrets = mkdtempSync(join(tmpdir(), 'tmon-shipped-gate-secrets-'));
        for (const s of compose.services[GATE_NAME].secrets as string[]) if (s !== name || content !== null) writeFileSync(join(secrets, s), s === name ? content! : secret(s));
        const started = spawnSync('sh', ['-c', gateScript(secrets), GATE_NAME, '-version'], { env: { PATH }, encoding: 'utf8' });
        expect(started.status, `${name} ${JSON.stringify(content)}`).toBe(1);
        expect(started.stderr, name).toContain(`secret ${name} is missing or empty`);
        rmSync(secrets, { recursive: true, force: true });
      }
    }
    // Every gate user's password and the engine's, nothing else.
    expect(compose.services[GATE_NAME].secrets).toEqual(['vm_password', ...gateUsers({ edition: 'single-node' }).map((u) => u.passwordKey.toLowerCase())]);
  });

  it('says a wrong password through vmauth is wrong, without passing on what vmauth quotes of it', async () => {
    const wrong = 'not-the-reader-password-0123456789';
    writeFileSync(join(dir, 'wrong'), wrong);
    const reader = new VictoriaMetrics({ ...loadConfig({ env: { VM_URL: gateUrl, VM_USERNAME: 'reader', VM_PASSWORD_FILE: join(dir, 'wrong') } }).storage.engine, syncIntervalMs: 0 });
    const refused = 'refused the credentials: set storage.engine.username and password';
    for (const call of [() => reader.query('shipped_engine', Date.now()), () => reader.prometheusApi('/api/v1/labels', new URLSearchParams()), () => reader.health()]) {
      const err = (await call().then(() => undefined, (e: unknown) => e)) as Error & { status?: number };
      expect(err?.message).toContain(refused);
      expect(err.message).not.toContain(Buffer.from(`reader:${wrong}`).toString('base64'));
      expect(err.status).toBe(401);
    }
    await engineOf('api-gateway').health();
  });

  it('takes snapshots from the storage and the backup only, and deletes for nobody', async () => {
    for (const name of ENGINE_USERS) {
      const snapshot = engineOf(name).createSnapshot();
      if (ENGINE_SNAPSHOT_TAKERS.includes(name)) await engineOf(name).deleteSnapshot(await snapshot);
      else await expect(snapshot, name).rejects.toThrow(gateUserOf({ edition: 'single-node' }, name) ? NO_ROUTE : '400 the engine asks for its snapshot key');
      await expect(engineOf(name).deleteSeries('{__name__="shipped_engine"}'), name).rejects.toThrow(name === 'storage' ? /delete_series: 400 .*-deleteAuthKey/ : NO_ROUTE);
    }
    expect(await engineOf('storage').listSnapshots()).toEqual([]);
    expect(await engineOf('storage').exportAll('{__name__="shipped_engine"}', 0, Date.now())).toHaveLength(1);
  });

  it('reports the engine down to a reader whose vmauth is up (vmauth answers its own /health)', async () => {
    // Any answer but the engine's own to its query is down: here a wrong base path's.
    writeFileSync(join(dir, 'engine-password'), secret('vm_password'));
    const astray = new VictoriaMetrics({ ...loadConfig({ env: { VM_URL: `${url}/not-the-engine`, VM_PASSWORD_FILE: join(dir, 'engine-password') } }).storage.engine, syncIntervalMs: 0 });
    await expect(astray.health()).rejects.toThrow(/engine health: (400|404) /);
    server.kill('SIGKILL');
    await waitFor(() => (server.exitCode !== null || server.signalCode !== null ? true : undefined), 10_000, 'the engine to stop');
    expect((await fetch(`${gateUrl}/health`)).status).toBe(200);
    await expect(engineOf('api-gateway').health()).rejects.toThrow(/engine health: 502/);
  });
});
