import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import pg from 'pg';
import { Redis, type RedisOptions } from 'ioredis';
import { loadConfig, type Config } from '@terminusa/config';
import { STREAMS, Namespace, type StreamName } from '@terminusa/bus';
import { ensureDatabase } from '@terminusa/database';

/** Connection settings of the servers tests run against; the same variables the services read. */
export const TEST_SERVERS = {
  natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/terminusa_test',
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  vmUrl: process.env.VM_URL ?? 'http://127.0.0.1:8428',
};

/**
 * Overrides for tests that write small batches one after another and wait for each: the engine synced every 50 ms
 * instead of every 250 ms (the shipped `storage.engine.syncIntervalMs`).
 */
export const QUICK_SYNC = { storage: { engine: { syncIntervalMs: 50 } } };

/** An isolated slice of the real servers for one test: NATS subject/stream prefix, PostgreSQL schema, Redis key prefix, the engine's `tmon_ns` label, data dir. */
export interface TestNamespace {
  readonly id: string;
  readonly config: Readonly<Config>;
  /** The same settings as environment variables, for services started as processes. */
  readonly env: Record<string, string>;
  /** A client of the test Redis (one per simulated replica), with `options` over ioredis' defaults; disconnected by {@link cleanup}. */
  redis(options?: RedisOptions): Redis;
  /** Disconnects the namespace's Redis clients and removes the streams, schema, keys and files the test made. */
  cleanup(): Promise<void>;
}

/** Creates a fresh namespace; `overrides` are applied over the suite's defaults (in `config`, not in `env`). */
export async function createTestNamespace(overrides: Record<string, unknown> = {}): Promise<TestNamespace> {
  const id = `t${randomBytes(5).toString('hex')}`;
  const dataDir = await mkdtemp(join(tmpdir(), `tmon-${id}-`));
  await ensureDatabase(TEST_SERVERS.databaseUrl);
  const env: Record<string, string> = {
    NATS_URL: TEST_SERVERS.natsUrl,
    NATS_PREFIX: id,
    DATABASE_URL: TEST_SERVERS.databaseUrl,
    DATABASE_SCHEMA: id,
    REDIS_URL: TEST_SERVERS.redisUrl,
    REDIS_PREFIX: `${id}:`,
    VM_URL: TEST_SERVERS.vmUrl,
    VM_NAMESPACE: id,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
  };
  const config = loadConfig({ env, overrides });
  const clients: Redis[] = [];
  return {
    id,
    config,
    env,
    redis(options: RedisOptions = {}) {
      const client = new Redis(config.redis.url, options);
      clients.push(client);
      return client;
    },
    async cleanup() {
      for (const client of clients.splice(0)) client.disconnect();
      await Promise.allSettled([dropStreams(id), dropSchema(id), dropKeys(`${id}:`), dropSeries(id), rm(dataDir, { recursive: true, force: true })]);
    },
  };
}

async function dropStreams(prefix: string): Promise<void> {
  const nc = await connect({ servers: TEST_SERVERS.natsUrl });
  try {
    const jsm = await nc.jetstreamManager();
    const ns = new Namespace(prefix);
    for (const name of Object.keys(STREAMS) as StreamName[]) await jsm.streams.delete(ns.stream(name)).catch(() => undefined);
  } finally {
    await nc.close();
  }
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_SERVERS.databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}

async function dropSeries(namespace: string): Promise<void> {
  await fetch(`${TEST_SERVERS.vmUrl}/api/v1/admin/tsdb/delete_series`, { method: 'POST', body: new URLSearchParams({ 'match[]': `{tmon_ns="${namespace}"}` }) });
}

async function dropKeys(prefix: string): Promise<void> {
  const redis = new Redis(TEST_SERVERS.redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
