import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigSchema, type Config } from './schema.ts';
import { ConfigError, type ConfigProblem } from './errors.ts';

type Tree = Record<string, unknown>;

/** Well-known environment variables and the setting each one sets. */
export const ENV_VARIABLES: Readonly<Record<string, string>> = {
  NATS_URL: 'nats.url',
  NATS_PREFIX: 'nats.prefix',
  DATABASE_URL: 'database.url',
  DATABASE_SCHEMA: 'database.schema',
  REDIS_URL: 'redis.url',
  REDIS_PREFIX: 'redis.prefix',
  DATA_DIR: 'dataDir',
  GATEWAY_PORT: 'gateway.port',
  GATEWAY_HOST: 'gateway.host',
  OPS_PORT: 'ops.port',
  OPS_METRICS_TOKEN: 'ops.metricsToken',
  POD_IP: 'ops.address',
  LOG_LEVEL: 'log.level',
  LOG_FILE: 'log.file',
  SHUTDOWN_TIMEOUT: 'shutdownTimeout',
  NATS_PASSWORD: 'nats.password',
  DATABASE_PASSWORD: 'database.password',
  REDIS_PASSWORD: 'redis.password',
  ADMIN_PASSWORD: 'auth.adminPassword',
  JWT_SECRET: 'auth.jwtSecret',
  ALERT_RULES_FILE: 'alerts.rulesFile',
  VM_URL: 'storage.engine.url',
  VM_WRITE_URL: 'storage.engine.writeUrl',
  VM_NAMESPACE: 'storage.engine.namespace',
  VM_USERNAME: 'storage.engine.username',
  VM_PASSWORD: 'storage.engine.password',
  VM_SNAPSHOT_KEY: 'storage.engine.snapshotKey',
};

/**
 * Secrets that may also come from a file: `<NAME>_FILE` holds the path (a Docker or Kubernetes secret), read
 * once at load, without trailing newlines (as `$(cat file)` in a shell). Setting both `<NAME>` and `<NAME>_FILE` is a problem.
 */
export const FILE_VARIABLES: readonly string[] = ['NATS_PASSWORD', 'ADMIN_PASSWORD', 'JWT_SECRET', 'OPS_METRICS_TOKEN', 'DATABASE_PASSWORD', 'DATABASE_URL', 'REDIS_PASSWORD', 'REDIS_URL', 'VM_PASSWORD', 'VM_SNAPSHOT_KEY'];

/** Any other setting: TMON_<PATH> with `__` between levels, e.g. TMON_CORE__BATCH_SIZE=200. */
const GENERIC_PREFIX = 'TMON_';

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Path of a YAML or JSON config file; defaults to $CONFIG_FILE. */
  file?: string;
  /** Settings applied over file and environment, for tests and tools. */
  overrides?: Tree;
}

/** Reads defaults, then the config file, then the environment, and validates the result once. */
export function loadConfig(options: LoadConfigOptions = {}): Readonly<Config> {
  const env = options.env ?? process.env;
  const problems: ConfigProblem[] = [];
  const sources = new Map<string, string>();
  const tree: Tree = {};

  const file = options.file ?? env.CONFIG_FILE;
  if (file) {
    try {
      const parsed: unknown = parseYaml(readFileSync(file, 'utf8'));
      if (parsed != null && typeof parsed !== 'object') throw new Error('the file does not hold a mapping');
      mergeInto(tree, (parsed ?? {}) as Tree, `file ${file}`, sources, '');
    } catch (err) {
      // The parser quotes the lines around a fault after its first line: a duplicated `metricsToken:` line put the
      // token in the log of a refused reload. Where it is (line and column) is enough to find it.
      const message = (err as Error).message.split('\n')[0]!.replace(/:$/, '');
      problems.push({ path: '(file)', message, source: `file ${file}` });
    }
  }
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined || raw === '') continue;
    const path = ENV_VARIABLES[name] ?? genericPath(name);
    if (!path) continue;
    setPath(tree, path, envValue(path, raw));
    sources.set(path, `env ${name}`);
  }
  for (const name of FILE_VARIABLES) {
    const fileVar = `${name}_FILE`;
    const path = ENV_VARIABLES[name]!;
    const secretFile = env[fileVar];
    if (!secretFile) continue;
    if (env[name]) {
      problems.push({ path, message: `set ${name} or ${fileVar}, not both`, source: `env ${fileVar}` });
      continue;
    }
    try {
      setPath(tree, path, readFileSync(secretFile, 'utf8').replace(/[\r\n]+$/, ''));
      sources.set(path, `env ${fileVar}`);
    } catch (err) {
      problems.push({ path, message: (err as Error).message, source: `env ${fileVar}` });
    }
  }
  if (options.overrides) mergeInto(tree, options.overrides, 'overrides', sources, '');
  if (file) tree.configFile = file;

  const result = ConfigSchema.safeParse(tree);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.join('.');
      problems.push({ path, message: issue.message, source: sourceOf(path, sources) });
    }
  }
  if (result.success && result.data.nats.password !== undefined) {
    const url = withNatsPassword(result.data.nats.url, result.data.nats.password);
    if (url === undefined) problems.push({ path: 'nats.password', message: 'needs a user in nats.url (nats://<user>@host:4222)', source: sourceOf('nats.password', sources) });
    else result.data.nats.url = url;
  }
  if (result.success) {
    for (const [section, needsUser] of [['database', true], ['redis', false]] as const) {
      const { url, password } = result.data[section];
      if (password === undefined) continue;
      const withPassword = withUrlPassword(url, password, needsUser);
      if (typeof withPassword === 'string') result.data[section].url = withPassword;
      else problems.push({ path: `${section}.password`, message: withPassword.problem, source: sourceOf(`${section}.password`, sources) });
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return deepFreeze(result.data);
}

/**
 * `url` (one server URL or several, comma-separated) with `password` set on every URL that names a user;
 * undefined when none does. The runtime's `natsServers` takes the credentials from there.
 */
function withNatsPassword(url: string, password: string): string | undefined {
  let withUser = 0;
  const out = url.split(',').map((raw) => {
    const s = raw.trim();
    if (!s) return s;
    const hasScheme = /^[a-z]+:\/\//i.test(s);
    let parsed: URL;
    try {
      parsed = new URL(hasScheme ? s : `nats://${s}`);
    } catch {
      return s;
    }
    if (!parsed.username) return s;
    withUser++;
    parsed.password = encodeURIComponent(password);
    const text = parsed.toString().replace(/\/$/, '');
    return hasScheme ? text : text.replace(/^nats:\/\//, '');
  });
  return withUser > 0 ? out.join(',') : undefined;
}

/**
 * One server URL (PostgreSQL, Redis) with `password` set in it, or why it cannot be: no host to carry it, no user
 * where the server needs one, or a password already written in the URL (two places to change, one ignored).
 */
function withUrlPassword(url: string, password: string, needsUser: boolean): string | { problem: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { problem: 'the URL it belongs to is not a URL' };
  }
  if (parsed.password) return { problem: 'the URL holds a password already; set it in one place' };
  if (needsUser && !parsed.username) return { problem: 'needs a user in the URL (postgres://<role>@host:5432/<database>)' };
  parsed.password = encodeURIComponent(password);
  if (!parsed.password) return { problem: 'the URL has no host to give the password to' };
  return parsed.toString();
}

function genericPath(name: string): string | undefined {
  if (!name.startsWith(GENERIC_PREFIX) || name.length === GENERIC_PREFIX.length) return undefined;
  return name
    .slice(GENERIC_PREFIX.length)
    .split('__')
    .map((part) => part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()))
    .join('.');
}

/** Environment values are strings; numbers, booleans and JSON arrays/objects are read as such, except for known text settings. */
const TEXT_SETTINGS = new Set(['nats.password', 'database.password', 'redis.password', 'auth.adminPassword', 'auth.jwtSecret', 'ops.metricsToken', 'nats.prefix', 'redis.prefix', 'database.schema', 'storage.engine.namespace', 'storage.engine.url', 'storage.engine.writeUrl', 'storage.engine.username', 'storage.engine.password', 'storage.engine.snapshotKey', 'alerts.channels.email.password', 'alerts.channels.webhook.secret']);
function envValue(path: string, raw: string): unknown {
  if (TEXT_SETTINGS.has(path)) return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  if (keys.some((key) => PROTOTYPE_KEYS.has(key))) return;
  let node = tree;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    node = (next && typeof next === 'object' ? next : (node[key] = {})) as Tree;
  }
  node[keys[keys.length - 1]!] = value;
}

/** Keys that would reach an object's prototype if merged: a file holding one is refused, not merged. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function mergeInto(tree: Tree, from: Tree, source: string, sources: Map<string, string>, base: string): void {
  for (const [key, value] of Object.entries(from)) {
    const path = base ? `${base}.${key}` : key;
    if (PROTOTYPE_KEYS.has(key)) throw new Error(`${path}: not a setting (a key that would change every object)`);
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const existing = tree[key];
      const target = (existing && typeof existing === 'object' && !Array.isArray(existing) ? existing : (tree[key] = {})) as Tree;
      mergeInto(target, value as Tree, source, sources, path);
    } else {
      tree[key] = value;
      sources.set(path, source);
    }
  }
}

function sourceOf(path: string, sources: Map<string, string>): string {
  for (let p = path; p; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    const s = sources.get(p);
    if (s) return s;
  }
  return 'default';
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Exit code of a process whose configuration is invalid (sysexits EX_CONFIG). */
export const EXIT_CONFIG = 78;

/** For entry points (services, command-line tools): the configuration, or every problem on stderr and exit 78. */
export function loadConfigOrExit(options: LoadConfigOptions = {}, program = 'terminusa'): Readonly<Config> {
  try {
    return loadConfig(options);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${program}: ${err.message}\n`);
    process.exit(EXIT_CONFIG);
  }
}
