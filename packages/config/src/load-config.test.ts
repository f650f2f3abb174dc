import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './index.ts';

describe('loadConfig', () => {
  it('gives the seed numbers as defaults', () => {
    const config = loadConfig({ env: {} });
    expect(config.collection.intervals).toEqual({ system: 60, app: 30, custom: 300 });
    expect(config.core).toEqual({ workers: 4, queueSize: 1000, batchSize: 100, timeout: 30, deadLetterAfter: 5 });
    expect(config.storage.retention).toEqual({ raw: '1d', hourly: '7d', daily: '30d' });
    expect(config.aggregation.retention).toEqual({ '1m': '2h', '5m': '24h', '1h': '7d', '1d': '90d' });
    expect(config.alerts.levels.warning).toEqual({ timeout: 1800, channels: ['email', 'slack'] });
    expect(config.auth).toMatchObject({ tokenExpiry: 3600, refreshWindow: 300, maxAttempts: 5, maxAttemptsPerAddress: 20, lockout: 900 });
    expect(config.gateway.trustProxy).toEqual(['loopback']);
    expect(config.auth.sessionLifetime).toBe(43_200);
    expect(config.gateway.live).toEqual({ maxConnections: 2000, maxConnectionsPerPrincipal: 20, maxUnauthenticatedPerAddress: 10, recheckInterval: 30 });
    expect(config.scaling.collectors).toEqual({ min: 2, max: 10, targetCpu: 70 });
    expect(config.backup.schedule).toEqual({ full: '0 0 * * 0', incremental: '0 0 * * 1-6' });
    expect(config.nats.url).toBe('nats://127.0.0.1:4222');
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(config.gateway.port).toBe(8080);
    expect(config.dataDir).toBe('./data');
    expect(new URL(config.database.url).pathname).toBe('/terminusa');
  });

  it('lets the file override defaults and the environment override the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tmon-config-'));
    const file = join(dir, 'terminusa.yaml');
    writeFileSync(file, 'core:\n  batchSize: 250\n  workers: 8\ngateway:\n  port: 9000\n');
    const config = loadConfig({ env: { CONFIG_FILE: file, GATEWAY_PORT: '8181', TMON_CORE__WORKERS: '2', TMON_COLLECTION__INTERVALS__SYSTEM: '15' } });
    expect(config.core.batchSize).toBe(250);
    expect(config.core.workers).toBe(2);
    expect(config.gateway.port).toBe(8181);
    expect(config.collection.intervals.system).toBe(15);
  });

  it('refuses two scrape targets or two probes of one name (the second replaced the first, never scraped), naming the second', () => {
    const target = (name: string) => ({ name, url: 'http://127.0.0.1:9100/metrics' });
    expect(() => loadConfig({ overrides: { collection: { targets: [target('game'), target('chat'), target('game')] } } })).toThrow(/collection\.targets\.2\.name/);
    const probe = { kind: 'tcp', name: 'db', host: 'db', port: 5432 };
    expect(() => loadConfig({ overrides: { collection: { probes: [probe, { ...probe, port: 5433 }] } } })).toThrow(/collection\.probes\.1\.name/);
    expect(loadConfig({ overrides: { collection: { targets: [target('game'), target('chat')] } } }).collection.targets).toHaveLength(2);
  });

  it('names every bad setting and where it came from in one error', () => {
    const attempt = () => loadConfig({ env: { GATEWAY_PORT: 'eighty', TMON_CORE__BATCH_SIZE: '-1', LOG_LEVEL: 'loud' } });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (err) {
      const problems = (err as ConfigError).problems.map((p) => `${p.path} (${p.source})`).sort();
      expect(problems).toEqual(['core.batchSize (env TMON_CORE__BATCH_SIZE)', 'gateway.port (env GATEWAY_PORT)', 'log.level (env LOG_LEVEL)']);
      expect((err as Error).message).toContain('gateway.port');
    }
  });

  it('reads gateway.trustProxy from TMON_GATEWAY__TRUST_PROXY or a file, and refuses true and what is no address', () => {
    const trust = (value: string) => loadConfig({ env: { TMON_GATEWAY__TRUST_PROXY: value } }).gateway.trustProxy;
    expect(trust('1')).toBe(1);
    expect(trust('false')).toBe(false);
    expect(trust('loopback, 10.0.0.0/8, fd00::/8')).toEqual(['loopback', '10.0.0.0/8', 'fd00::/8']);
    expect(trust('["uniquelocal","192.0.2.7"]')).toEqual(['uniquelocal', '192.0.2.7']);
    const file = join(mkdtempSync(join(tmpdir(), 'tmon-config-')), 'terminusa.yaml');
    writeFileSync(file, 'gateway:\n  trustProxy: "2"\n');
    expect(loadConfig({ env: { CONFIG_FILE: file } }).gateway.trustProxy).toBe(2);
    for (const bad of ['true', 'ingress', '10.0.0.0/33', '-1']) {
      expect(() => trust(bad), bad).toThrow(/gateway\.trustProxy.*env TMON_GATEWAY__TRUST_PROXY/);
    }
    expect(() => trust('true')).toThrow(/any client could name its own address/);
  });

  it('keeps passwords as text even when they look like numbers', () => {
    expect(loadConfig({ env: { ADMIN_PASSWORD: '123456789012' } }).auth.adminPassword).toBe('123456789012');
  });

  it('reads NATS_PASSWORD_FILE (and the other secrets) from a file and puts the password into nats.url', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tmon-config-'));
    writeFileSync(join(dir, 'nats_password'), 'p@ss:w/rd 1\n');
    writeFileSync(join(dir, 'admin_password'), 'a-long-admin-password');
    const config = loadConfig({
      env: { NATS_URL: 'nats://processor@nats:4222', NATS_PASSWORD_FILE: join(dir, 'nats_password'), ADMIN_PASSWORD_FILE: join(dir, 'admin_password') },
    });
    expect(config.nats.password).toBe('p@ss:w/rd 1');
    expect(config.nats.url).toBe(`nats://processor:${encodeURIComponent('p@ss:w/rd 1')}@nats:4222`);
    expect(config.auth.adminPassword).toBe('a-long-admin-password');
    // Several servers: every one that names the user gets the password.
    const cluster = loadConfig({ env: { NATS_URL: 'nats://storage@nats-0:4222,nats://storage@nats-1:4222', NATS_PASSWORD: '1234' } });
    expect(cluster.nats.url).toBe('nats://storage:1234@nats-0:4222,nats://storage:1234@nats-1:4222');
  });

  it('refuses a NATS password without a user, a missing secret file, or both a variable and its file', () => {
    const problems = (env: NodeJS.ProcessEnv) => {
      try {
        loadConfig({ env });
      } catch (err) {
        return (err as ConfigError).problems.map((p) => `${p.path} (${p.source})`);
      }
      return [];
    };
    expect(problems({ NATS_URL: 'nats://nats:4222', NATS_PASSWORD: 'pw' })).toEqual(['nats.password (env NATS_PASSWORD)']);
    expect(problems({ NATS_URL: 'nats://u@nats:4222', NATS_PASSWORD_FILE: '/nonexistent/tmon-secret' })).toEqual(['nats.password (env NATS_PASSWORD_FILE)']);
    expect(problems({ JWT_SECRET: 'a-jwt-secret-long-enough-for-the-schema-0123456789', JWT_SECRET_FILE: '/nonexistent/tmon-secret' })).toEqual(['auth.jwtSecret (env JWT_SECRET_FILE)']);
    const noPassword = loadConfig({ env: { NATS_URL: 'nats://u@nats:4222' } }).nats;
    expect([noPassword.url, noPassword.password]).toEqual(['nats://u@nats:4222', undefined]);
  });

  it('reads the PostgreSQL and Redis passwords (or whole URLs) from files and puts the passwords into the URLs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tmon-config-'));
    writeFileSync(join(dir, 'database_password'), 'db p@ss:w/rd%\n');
    writeFileSync(join(dir, 'redis_password'), '0123456789');
    const config = loadConfig({
      env: {
        DATABASE_URL: 'postgres://terminusa@postgres:5432/terminusa',
        DATABASE_PASSWORD_FILE: join(dir, 'database_password'),
        REDIS_URL: 'redis://redis:6379',
        REDIS_PASSWORD_FILE: join(dir, 'redis_password'),
      },
    });
    expect(config.database.password).toBe('db p@ss:w/rd%');
    expect(config.database.url).toBe(`postgres://terminusa:${encodeURIComponent('db p@ss:w/rd%')}@postgres:5432/terminusa`);
    // node-postgres and ioredis decode the userinfo back to the password.
    expect(decodeURIComponent(new URL(config.database.url).password)).toBe('db p@ss:w/rd%');
    expect(config.redis.password).toBe('0123456789');
    expect(config.redis.url).toBe('redis://:0123456789@redis:6379');
    expect(loadConfig({ env: { REDIS_URL: 'rediss://monitoring@redis:6380/2', REDIS_PASSWORD: 'pw' } }).redis.url).toBe('rediss://monitoring:pw@redis:6380/2');
    // The whole URL may be the secret instead.
    writeFileSync(join(dir, 'redis_url'), 'redis://:from-file@redis:6379\n');
    expect(loadConfig({ env: { REDIS_URL_FILE: join(dir, 'redis_url') } }).redis.url).toBe('redis://:from-file@redis:6379');
    // Without either, the URLs stay as given.
    const plain = loadConfig({ env: { REDIS_URL: 'redis://redis:6379' } }).redis;
    expect([plain.url, plain.password]).toEqual(['redis://redis:6379', undefined]);
  });

  it('refuses a database password without a role in the URL, a URL that holds one already, or a variable with its file', () => {
    const problems = (env: NodeJS.ProcessEnv) => {
      try {
        loadConfig({ env });
      } catch (err) {
        return (err as ConfigError).problems.map((p) => `${p.path} (${p.source}): ${p.message}`);
      }
      return [];
    };
    expect(problems({ DATABASE_URL: 'postgres://postgres:5432/terminusa', DATABASE_PASSWORD: 'pw' })).toEqual([
      'database.password (env DATABASE_PASSWORD): needs a user in the URL (postgres://<role>@host:5432/<database>)',
    ]);
    expect(problems({ REDIS_URL: 'redis://:old@redis:6379', REDIS_PASSWORD: 'new' })).toEqual([
      'redis.password (env REDIS_PASSWORD): the URL holds a password already; set it in one place',
    ]);
    expect(problems({ REDIS_URL: 'redis:///0', REDIS_PASSWORD: 'pw' })).toEqual([
      'redis.password (env REDIS_PASSWORD): the URL has no host to give the password to',
    ]);
    expect(problems({ REDIS_PASSWORD: 'pw', REDIS_PASSWORD_FILE: '/nonexistent/tmon-secret' })).toEqual([
      'redis.password (env REDIS_PASSWORD_FILE): set REDIS_PASSWORD or REDIS_PASSWORD_FILE, not both',
    ]);
  });

  it('refuses a file whose keys would reach Object.prototype, and pollutes nothing', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tmon-config-')), 'config.yaml');
    writeFileSync(file, '__proto__:\n  polluted: yes\ngateway:\n  constructor:\n    prototype:\n      polluted: yes\n');
    expect(() => loadConfig({ env: {}, file })).toThrow(/__proto__: not a setting/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(loadConfig({ env: { TMON___PROTO____POLLUTED: 'yes' } }).gateway.port).toBe(8080);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a scrape target whose URL holds a user or password (fetch would refuse it, quoting it in the log)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tmon-config-')), 'config.yaml');
    writeFileSync(file, 'collection:\n  targets:\n    - name: app\n      url: http://scraper:s3cret@app:9100/metrics\n');
    expect(() => loadConfig({ env: {}, file })).toThrow(/collection\.targets\.0\.url.*no user or password in the URL/);
  });

  it('refuses a scrape target or HTTP probe URL that is not http or https, naming the field (it has no origin for the health path)', () => {
    const problems = (collection: unknown) => {
      try {
        loadConfig({ env: {}, overrides: { collection } });
        return [];
      } catch (err) {
        return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
      }
    };
    const target = (url: string) => ({ targets: [{ name: 'app', url }] });
    for (const url of ['htp://app:9100/metrics', 'file:///metrics', 'ftp://app/metrics']) {
      expect(problems(target(url)), url).toEqual(['collection.targets.0.url: must be an http:// or https:// URL']);
    }
    expect(problems({ probes: [{ kind: 'http', name: 'page', url: 'file:///status' }] })).toEqual(['collection.probes.0.url: must be an http:// or https:// URL']);
    expect(problems({ ...target('https://app:9100/metrics'), probes: [{ kind: 'http', name: 'page', url: 'HTTP://[::1]:8080/status' }] })).toEqual([]);
  });

  it('says where a file that does not parse is wrong, without quoting its lines (a secret may be on them)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tmon-config-')), 'config.yaml');
    writeFileSync(file, 'ops:\n  metricsToken: tok-SECRET-1\n  metricsToken: tok-SECRET-2\n');
    const err = (() => {
      try {
        loadConfig({ env: {}, file });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.message).toMatch(/Map keys must be unique at line 3, column 3/);
    expect(err!.message).not.toMatch(/tok-SECRET/);
  });

  it('returns a frozen object', () => {
    const config = loadConfig({ env: {} });
    expect(Object.isFrozen(config.core)).toBe(true);
  });
});
