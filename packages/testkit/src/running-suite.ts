import type { ServiceName } from '@terminusa/config';
import { createTestNamespace, type TestNamespace } from './test-namespace.ts';
import { freePort } from './free-port.ts';
import { buildServiceBundles, startServiceProcess, type ServiceForm, type ServiceProcess } from './service-process.ts';
import { waitFor } from './wait-for.ts';

/**
 * How long tests wait for services started as processes to be up: the whole test suite starts dozens of
 * them at once on two cores, each compiling its TypeScript at start, so a minute is sometimes not enough.
 */
export const STARTUP_MS = 150_000;

/** Services started as real processes in their own namespace, with the gateway in front and an admin signed in. */
export interface RunningSuite {
  readonly ns: TestNamespace;
  /** The environment every service was started with. */
  readonly env: Record<string, string>;
  /** The gateway's base URL, e.g. `http://127.0.0.1:41234`. */
  readonly base: string;
  readonly adminPassword: string;
  /** A token of the first admin. */
  readonly adminToken: string;
  readonly procs: ServiceProcess[];
  /** Logs in and returns the token. */
  login(username: string, password: string): Promise<string>;
  /** Calls the gateway with the admin token (or `token`) and parses JSON; throws on a network error only. */
  // Tests assert on the JSON's shape themselves, as a user of the API would.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  api(path: string, init?: RequestInit & { token?: string }): Promise<{ status: number; body: any }>;
  /** Creates an API key of `role` (one of the gateway's roles) as the admin and returns its secret. */
  apiKey(name: string, role: string): Promise<string>;
  /** Starts more service replicas with the suite's environment and waits until the gateway discovers them; `stop` ends them too. */
  startServices(services: Exclude<ServiceName, 'api-gateway'>[]): Promise<ServiceProcess[]>;
  /** Kills every process and removes the namespace. */
  stop(): Promise<void>;
}

/** What to start: the gateway always runs; `env` is added over the namespace's settings. */
export interface SuiteOptions {
  /** A service named twice runs as two replicas. */
  services: Exclude<ServiceName, 'api-gateway'>[];
  env?: Record<string, string>;
  /** Added over `env` for one service's replicas (e.g. its own credentials). */
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  nsOverrides?: Record<string, unknown>;
  /** Sources through tsx (tests, the default) or the bundles the image runs (benchmarks: they measure what ships). */
  form?: ServiceForm;
}

/** Starts the gateway and `services`, waits until each replica is discovered on NATS and signs the first admin in. */
export async function startSuite(options: SuiteOptions): Promise<RunningSuite> {
  const ns = await createTestNamespace(options.nsOverrides);
  const port = await freePort();
  const adminPassword = `admin-${ns.id}-password`;
  const env: Record<string, string> = { ...ns.env, GATEWAY_PORT: String(port), GATEWAY_HOST: '127.0.0.1', OPS_PORT: '0', ADMIN_PASSWORD: adminPassword, ...options.env };
  const base = `http://127.0.0.1:${port}`;
  const form = options.form ?? 'sources';
  if (form === 'bundle') buildServiceBundles();
  const start = (name: ServiceName) => startServiceProcess(name, { ...env, ...options.serviceEnv?.[name] }, form);
  const procs = (['api-gateway', ...options.services] as ServiceName[]).map(start);
  const stop = async () => {
    // A CPU profile is written only on a graceful exit.
    for (const p of procs) p.kill(process.env.PROF_DIR ? 'SIGTERM' : 'SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await ns.cleanup();
  };
  const login = async (username: string, password: string) => {
    const res = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    if (res.status !== 200) throw new Error(`login of ${username} answered ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { token: string }).token;
  };
  let adminToken = '';
  // Which instances are up is a detail for signed-in users: waits until the gateway sees `count(name)` of each.
  const discovered = (names: readonly string[], count: (name: string) => number) =>
    waitFor(
      async () => {
        const res = await fetch(`${base}/health/details`, { headers: { authorization: `Bearer ${adminToken}` } }).catch(() => undefined);
        if (!res) return undefined;
        const body = (await res.json()) as { services?: Record<string, { instances: number }> };
        return names.every((name) => (body.services?.[name]?.instances ?? 0) >= count(name)) ? true : undefined;
      },
      STARTUP_MS,
      `gateway and ${names.join(', ')} discovered`,
      250,
    );
  try {
    await waitFor(async () => ((await fetch(`${base}/health`).catch(() => undefined))?.ok ? true : undefined), STARTUP_MS, 'the gateway to answer', 250);
    adminToken = await login('admin', adminPassword);
    await discovered(options.services, (name) => options.services.filter((n) => n === name).length);
  } catch (err) {
    const logs = procs.map((p) => `--- ${p.name}\n${p.output().slice(-2000)}`).join('\n');
    await stop();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }
  const api = async (path: string, init: RequestInit & { token?: string } = {}) => {
    const { token = adminToken, ...rest } = init;
    const res = await fetch(`${base}${path}`, { ...rest, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...(rest.headers as Record<string, string>) } });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const apiKey = async (name: string, role: string) => {
    const res = await api('/api-keys', { method: 'POST', body: JSON.stringify({ name, role }) });
    if (res.status !== 201) throw new Error(`creating the API key ${name} answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body.secret as string;
  };
  const startServices = async (services: Exclude<ServiceName, 'api-gateway'>[]) => {
    const started = services.map(start);
    procs.push(...started);
    await discovered(services, (name) => procs.filter((p) => p.name === name).length);
    return started;
  };
  return { ns, env, base, adminPassword, adminToken, procs, login, api, apiKey, startServices, stop };
}
