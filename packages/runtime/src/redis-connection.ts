import { Redis } from 'ioredis';
import type { Config } from '@terminusa/config';

/** How a client uses Redis: `commands` fail after a few retries while Redis is away; `blocking` waits for it. */
export type RedisUse = 'commands' | 'blocking';

/** What every Redis client of the suite is given: plain options, so BullMQ (with its own ioredis) takes them too. */
export interface RedisClientOptions {
  url: string;
  maxRetriesPerRequest: number | null;
  connectionName?: string;
}

/**
 * The options of every Redis client in the suite, stated once. A command client gives up after three retries so a
 * consumer's batch fails and is redelivered rather than hang; a blocking client (BullMQ workers, the outbox relay)
 * must wait through a reconnect, as BullMQ requires.
 */
export function redisOptions(config: Pick<Config, 'redis'>, use: RedisUse, name?: string): RedisClientOptions {
  return {
    url: config.redis.url,
    maxRetriesPerRequest: use === 'blocking' ? null : 3,
    ...(name ? { connectionName: name } : {}),
  };
}

/** A Redis client with the suite's options, not connected yet (for tools outside a service's lifecycle). */
export function createRedis(config: Pick<Config, 'redis'>, use: RedisUse, name?: string): Redis {
  const { url, ...options } = redisOptions(config, use, name);
  return new Redis(url, { ...options, lazyConnect: true });
}

/** The parts of a service's lifecycle a Redis client joins (the runtime's ServiceContext has them). */
export interface RedisLifecycle {
  config: Readonly<Pick<Config, 'redis'>>;
  health: { add(name: string, check: () => Promise<void>): void };
  onStop(name: string, stop: () => Promise<void> | void): void;
}

/**
 * Opens a Redis client for a service: connected, in its health report, and closed at shutdown. Open it before the
 * consumers that use it, so it is closed after they finished their last batch.
 */
export async function openRedis(ctx: RedisLifecycle, service: string, use: RedisUse = 'commands', check = 'redis'): Promise<Redis> {
  const redis = createRedis(ctx.config, use, `terminusa-${service}`);
  await redis.connect();
  ctx.onStop(check, () => void redis.disconnect());
  ctx.health.add(check, async () => void (await redis.ping()));
  return redis;
}
