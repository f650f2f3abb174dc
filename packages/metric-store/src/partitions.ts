import type pg from 'pg';
import { TIER_TABLE, type RollupTier as Tier } from './tiers.ts';

/** One partition of a tier's table. */
export interface Partition {
  name: string;
  from: number;
  to: number;
}

/** The partition of `tier` holding time `ts` (epoch ms). */
export function partitionFor(tier: Tier, ts: number): Partition {
  const { table, partitionMs } = TIER_TABLE[tier];
  const from = Math.floor(ts / partitionMs) * partitionMs;
  const stamp = new Date(from).toISOString().replace(/[-:]/g, '').slice(0, partitionMs < 86_400_000 ? 11 : 8);
  return { name: `${table}_p${stamp.toLowerCase()}`, from, to: from + partitionMs };
}

/**
 * Creates the partitions a range of time needs, once per process. Rows of a range whose partition cannot be
 * created (its rows already sit in the default partition, e.g. after a restore) stay in the default partition.
 */
export class PartitionManager {
  private readonly known = new Set<string>();

  constructor(private readonly pool: pg.Pool) {}

  /** Makes sure `tier` has partitions from `fromTs` to `toTs` (epoch ms, inclusive). */
  async ensure(tier: Tier, fromTs: number, toTs: number): Promise<void> {
    const { table, partitionMs } = TIER_TABLE[tier];
    for (let t = Math.floor(fromTs / partitionMs) * partitionMs; t <= toTs; t += partitionMs) {
      const p = partitionFor(tier, t);
      if (this.known.has(p.name)) continue;
      try {
        // Through the owner's function: the storage's role owns no table, so it may not run the DDL itself.
        await this.pool.query('SELECT rollup_partition_create($1, $2, $3, $4)', [table, p.name, new Date(p.from), new Date(p.to)]);
      } catch (err) {
        const code = (err as { code?: string }).code;
        // 42P07: another replica created it first; 23514: its rows already sit in the default partition.
        if (code !== '42P07' && code !== '23514') throw err;
        if (code === '23514') continue;
      }
      this.known.add(p.name);
    }
  }

  /** The partitions of `tier` that exist, oldest first (the default partition excluded), read from their names. */
  async list(tier: Tier): Promise<Partition[]> {
    const { table, partitionMs } = TIER_TABLE[tier];
    const { rows } = await this.pool.query<{ name: string }>('SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass', [table]);
    const parts: Partition[] = [];
    for (const { name } of rows) {
      const m = /_p(\d{4})(\d{2})(\d{2})(?:t(\d{2}))?$/.exec(name);
      if (!m) continue;
      const from = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0));
      parts.push({ name, from, to: from + partitionMs });
    }
    return parts.sort((a, b) => a.from - b.from);
  }

  /** Drops a partition of a rollup table (through the owner's function, as {@link ensure} creates one) and forgets it. */
  async drop(name: string): Promise<void> {
    await this.pool.query('SELECT rollup_partition_drop($1)', [name]);
    this.known.delete(name);
  }
}
