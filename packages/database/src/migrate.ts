import pg from 'pg';
import { withTransaction } from './transaction.ts';

/** The seed's metrics shape, for ad-hoc SQL (created with samples, again when samples became a view of blocks). */
const METRICS_VIEW = `CREATE VIEW metrics AS
        SELECT s.ts AS timestamp, se.name AS type, s.value, se.tags
          FROM samples s JOIN series se ON se.id = s.series_id;`;

/** Schema changes in order; an applied version is never edited, only followed by a new one. */
const MIGRATIONS: { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE series (
        id bigserial PRIMARY KEY,
        key text NOT NULL UNIQUE,
        name text NOT NULL,
        tags jsonb NOT NULL
      );
      CREATE INDEX series_name_tags ON series USING gin (tags);
      CREATE INDEX series_name ON series (name);
      CREATE TABLE samples (
        series_id bigint NOT NULL,
        ts timestamptz NOT NULL,
        value double precision NOT NULL,
        PRIMARY KEY (series_id, ts)
      );
    `,
  },
  {
    version: 2,
    sql: `
      CREATE TABLE alert_rules (
        name text PRIMARY KEY,
        definition jsonb NOT NULL,
        source text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by text NOT NULL
      );
      CREATE TABLE alerts (
        id uuid PRIMARY KEY,
        rule text NOT NULL,
        severity text NOT NULL,
        state text NOT NULL,
        summary text NOT NULL,
        message text NOT NULL,
        labels jsonb NOT NULL,
        value double precision,
        created_at timestamptz NOT NULL,
        fired_at timestamptz,
        resolved_at timestamptz,
        acked_at timestamptz,
        acked_by text,
        ack_comment text,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX alerts_created_at ON alerts (created_at);
      CREATE INDEX alerts_rule_created_at ON alerts (rule, created_at);
      CREATE TABLE alert_events (
        id text PRIMARY KEY,
        alert_id uuid NOT NULL,
        kind text NOT NULL,
        at timestamptz NOT NULL,
        detail jsonb NOT NULL DEFAULT '{}'
      );
      CREATE INDEX alert_events_alert ON alert_events (alert_id, at);
      CREATE TABLE silences (
        id uuid PRIMARY KEY,
        matchers jsonb NOT NULL,
        starts_at timestamptz NOT NULL,
        ends_at timestamptz NOT NULL,
        comment text NOT NULL,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX silences_ends_at ON silences (ends_at);
    `,
  },
  {
    version: 3,
    sql: `
      CREATE TABLE users (
        id uuid PRIMARY KEY,
        username text NOT NULL UNIQUE,
        password_hash text NOT NULL,
        role text NOT NULL,
        disabled boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE api_keys (
        id text PRIMARY KEY,
        name text NOT NULL,
        key_hash text NOT NULL,
        role text NOT NULL,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        revoked_at timestamptz
      );
      CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL,
        action text NOT NULL,
        target text NOT NULL,
        detail jsonb NOT NULL DEFAULT '{}',
        address text NOT NULL,
        request_id text NOT NULL
      );
      CREATE INDEX audit_log_at ON audit_log (at);
    `,
  },
  {
    // Raw samples partitioned by day (retention drops whole partitions), without a unique index: exactly-once
    // comes from one idempotency record per bus message, written in the same transaction as its samples.
    // Each rollup tier holds count/sum/min/max/last per series and bucket, so any average is exact. Rows
    // written since the last fold wait in rollup_pending. Each partitioned table has a default partition, so
    // a row never fails for want of a partition (restored or loaded-back history lands there).
    version: 4,
    sql: `
      ALTER TABLE samples RENAME TO samples_v1;
      CREATE TABLE samples (
        series_id bigint NOT NULL,
        ts timestamptz NOT NULL,
        value double precision NOT NULL
      ) PARTITION BY RANGE (ts);
      CREATE TABLE samples_default PARTITION OF samples DEFAULT;
      CREATE INDEX samples_series_ts ON samples (series_id, ts);
      INSERT INTO samples SELECT series_id, ts, value FROM samples_v1;
      DROP TABLE samples_v1;

      CREATE TABLE ingested_messages (
        id text PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX ingested_messages_at ON ingested_messages (at);

      CREATE TABLE rollup_pending (
        series_id bigint NOT NULL,
        ts timestamptz NOT NULL,
        value double precision NOT NULL
      );

      CREATE TABLE rollup_1m (series_id bigint NOT NULL, bucket timestamptz NOT NULL, count bigint NOT NULL, sum double precision NOT NULL,
        min double precision NOT NULL, max double precision NOT NULL, last double precision NOT NULL, last_ts timestamptz NOT NULL,
        PRIMARY KEY (series_id, bucket)) PARTITION BY RANGE (bucket);
      CREATE TABLE rollup_1m_default PARTITION OF rollup_1m DEFAULT;
      CREATE TABLE rollup_5m (LIKE rollup_1m INCLUDING ALL) PARTITION BY RANGE (bucket);
      CREATE TABLE rollup_5m_default PARTITION OF rollup_5m DEFAULT;
      CREATE TABLE rollup_1h (LIKE rollup_1m INCLUDING ALL) PARTITION BY RANGE (bucket);
      CREATE TABLE rollup_1h_default PARTITION OF rollup_1h DEFAULT;
      CREATE TABLE rollup_1d (LIKE rollup_1m INCLUDING ALL) PARTITION BY RANGE (bucket);
      CREATE TABLE rollup_1d_default PARTITION OF rollup_1d DEFAULT;

      ${METRICS_VIEW}
    `,
  },
  {
    // History queries read many series per bucket range; with the aggregates in the index they are answered
    // from the index alone instead of one heap page per row (rows are written time-first by the fold).
    version: 5,
    sql: `
      CREATE INDEX rollup_1m_covering ON rollup_1m (series_id, bucket) INCLUDE (count, sum, min, max);
      CREATE INDEX rollup_5m_covering ON rollup_5m (series_id, bucket) INCLUDE (count, sum, min, max);
      CREATE INDEX rollup_1h_covering ON rollup_1h (series_id, bucket) INCLUDE (count, sum, min, max);
      CREATE INDEX rollup_1d_covering ON rollup_1d (series_id, bucket) INCLUDE (count, sum, min, max);
    `,
  },
  {
    // The storage writes rollup_pending reduced per series and minute of a batch (ts and value: the minute's
    // newest sample), so a series sampled often costs the write and the fold one row a minute, not one a
    // sample. sum, min and max stay NULL for a row of one sample: it reads as before (value), and rows in the
    // old shape, from an older storage or a backup, are still right.
    version: 6,
    sql: `
      ALTER TABLE rollup_pending
        ADD COLUMN count bigint NOT NULL DEFAULT 1,
        ADD COLUMN sum double precision,
        ADD COLUMN min double precision,
        ADD COLUMN max double precision;
    `,
  },
  {
    // Every history read of a rollup tier also reads rollup_pending for its series and range. Between folds
    // it holds seconds of ingest (at 130k samples/s, 5 s is 650k rows), and without an index each read
    // scanned all of it: a one-series read went from 3 ms to 70 ms under load.
    version: 7,
    sql: `
      CREATE INDEX rollup_pending_series_ts ON rollup_pending (series_id, ts);
    `,
  },
  {
    // Raw samples are stored in blocks: the samples of one series in one minute of a batch, in arrays, with
    // the span they cover. A b-tree entry per sample cost PostgreSQL three times the row itself (COPY of 2M
    // samples: 9 s into rows with a (series_id, ts) index, 2.4 s into blocks of four). Blocks are partitioned
    // by day of their first sample (a block never spans two days). \`samples\` stays as a view of one row per
    // sample, for ad-hoc SQL and the \`metrics\` view; rows inserted into it (tools, backups taken before this
    // version) become blocks of one.
    version: 8,
    sql: `
      CREATE TABLE sample_blocks (
        series_id bigint NOT NULL,
        ts_min timestamptz NOT NULL,
        ts_max timestamptz NOT NULL,
        ts timestamptz[] NOT NULL,
        value double precision[] NOT NULL
      ) PARTITION BY RANGE (ts_min);
      CREATE TABLE sample_blocks_default PARTITION OF sample_blocks DEFAULT;
      CREATE INDEX sample_blocks_series_ts ON sample_blocks (series_id, ts_min);
      DO $$
      DECLARE d date;
      BEGIN
        FOR d IN SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM samples LOOP
          EXECUTE format('CREATE TABLE %I PARTITION OF sample_blocks FOR VALUES FROM (%L) TO (%L)',
            'sample_blocks_p' || to_char(d, 'YYYYMMDD'), d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
        END LOOP;
      END $$;
      INSERT INTO sample_blocks
        SELECT series_id, min(ts), max(ts), array_agg(ts ORDER BY ts), array_agg(value ORDER BY ts)
          FROM samples GROUP BY series_id, date_trunc('minute', ts);
      DROP VIEW metrics;
      DROP TABLE samples;

      CREATE VIEW samples AS
        SELECT b.series_id, u.ts, u.value FROM sample_blocks b CROSS JOIN LATERAL unnest(b.ts, b.value) AS u(ts, value);
      CREATE FUNCTION samples_insert() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
        BEGIN
          INSERT INTO sample_blocks VALUES (NEW.series_id, NEW.ts, NEW.ts, ARRAY[NEW.ts], ARRAY[NEW.value]);
          RETURN NEW;
        END $$;
      CREATE TRIGGER samples_insert INSTEAD OF INSERT ON samples FOR EACH ROW EXECUTE FUNCTION samples_insert();

      ${METRICS_VIEW}
    `,
  },
  {
    // The samples view unpacks blocks with one unnest and a subscript: unnest of the two arrays at once took
    // twice as long (as measured for history reads, which do the same).
    version: 9,
    sql: `
      CREATE OR REPLACE VIEW samples AS
        SELECT b.series_id, u.ts, b.value[u.i] AS value
          FROM sample_blocks b CROSS JOIN LATERAL unnest(b.ts) WITH ORDINALITY AS u(ts, i);
    `,
  },
  {
    // Raw samples move to the time-series engine (VictoriaMetrics). The rollup tiers stay here, computed from
    // the engine: rollup_watermarks says up to where each tier has been computed, rollup_dirty which (metric,
    // minute) must be computed again because samples arrived after it was. What rollup_pending still holds is
    // folded in one last time. The blocks stay, renamed, until \`tmon-storage move-raw\` has moved them to the
    // engine and drops them; the views over them go (the engine answers PromQL and exports, see docs/architecture.md).
    version: 10,
    sql: `
      ${['1m', '5m', '1h', '1d']
        .map(
          (tier) => `INSERT INTO rollup_${tier} AS r (series_id, bucket, count, sum, min, max, last, last_ts)
        SELECT series_id, date_bin('${{ '1m': 60, '5m': 300, '1h': 3600, '1d': 86400 }[tier]} seconds', ts, 'epoch'), sum(count), sum(coalesce(sum, value)),
               min(coalesce(min, value)), max(coalesce(max, value)), (array_agg(value ORDER BY ts DESC))[1], max(ts)
          FROM rollup_pending GROUP BY 1, 2
        ON CONFLICT (series_id, bucket) DO UPDATE SET
          count = r.count + EXCLUDED.count, sum = r.sum + EXCLUDED.sum, min = LEAST(r.min, EXCLUDED.min), max = GREATEST(r.max, EXCLUDED.max),
          last = CASE WHEN EXCLUDED.last_ts >= r.last_ts THEN EXCLUDED.last ELSE r.last END, last_ts = GREATEST(r.last_ts, EXCLUDED.last_ts);`,
        )
        .join('\n')}
      DROP TABLE rollup_pending;
      DROP TABLE ingested_messages;
      DROP VIEW metrics;
      DROP VIEW samples;
      DROP FUNCTION samples_insert();
      ALTER TABLE sample_blocks RENAME TO legacy_sample_blocks;

      CREATE TABLE rollup_watermarks (tier text PRIMARY KEY, until timestamptz NOT NULL);
      INSERT INTO rollup_watermarks
        SELECT t, date_bin(w::interval, now(), 'epoch') FROM (VALUES ('1m', '60 seconds'), ('5m', '300 seconds'), ('1h', '3600 seconds'), ('1d', '86400 seconds')) AS v(t, w);
      CREATE TABLE rollup_dirty (
        name text NOT NULL,
        minute timestamptz NOT NULL,
        claim uuid,
        marked_at timestamptz NOT NULL,
        PRIMARY KEY (name, minute)
      );
    `,
  },
  {
    // rollup_1d moves from daily to 30-day partitions (TIER_TABLE): each old partition's rows go into the new one
    // covering them. A range whose rows already sit in the default partition keeps its rows there.
    version: 11,
    sql: `
      CREATE TEMP TABLE rollup_1d_moved ON COMMIT DROP AS SELECT * FROM rollup_1d WHERE false;
      DO $$
      DECLARE r record;
      BEGIN
        FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                  WHERE i.inhparent = 'rollup_1d'::regclass AND c.relname <> 'rollup_1d_default' LOOP
          EXECUTE format('INSERT INTO rollup_1d_moved SELECT * FROM %I', r.relname);
          EXECUTE format('DROP TABLE %I', r.relname);
        END LOOP;
        FOR r IN SELECT DISTINCT floor(extract(epoch FROM bucket) / 2592000) * 2592000 AS from_s FROM rollup_1d_moved LOOP
          BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF rollup_1d FOR VALUES FROM (%L) TO (%L)',
              'rollup_1d_p' || to_char(to_timestamp(r.from_s) AT TIME ZONE 'UTC', 'YYYYMMDD'), to_timestamp(r.from_s), to_timestamp(r.from_s + 2592000));
          EXCEPTION WHEN check_violation THEN NULL;
          END;
        END LOOP;
      END $$;
      INSERT INTO rollup_1d SELECT * FROM rollup_1d_moved;
    `,
  },
  {
    // The storage logs in as a role of its own, which owns nothing and so may not create or drop partitions: it
    // calls these two functions, which run as their owner (the migrating role) and do only that, only to the
    // rollup tables. The search path is pinned with pg_temp last, so no temporary object can stand in for a table;
    // EXECUTE is taken from PUBLIC and granted to the storage role alone (service-grants.ts).
    version: 12,
    sql: `
      CREATE FUNCTION rollup_partition_create(tier_table text, part text, from_ts timestamptz, to_ts timestamptz) RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER AS $$
      BEGIN
        IF tier_table NOT IN ('rollup_1m', 'rollup_5m', 'rollup_1h', 'rollup_1d') OR part !~ ('^' || tier_table || '_p[0-9]{8}(t[0-9]{2})?$') THEN
          RAISE EXCEPTION 'not a rollup partition: % of %', part, tier_table USING ERRCODE = 'invalid_parameter_value';
        END IF;
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', part, tier_table, from_ts, to_ts);
      END $$;
      CREATE FUNCTION rollup_partition_drop(part text) RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER AS $$
      BEGIN
        IF part !~ '^rollup_(1m|5m|1h|1d)_p[0-9]{8}(t[0-9]{2})?$' OR NOT EXISTS (
             SELECT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE c.relname = part AND c.relnamespace = current_schema()::regnamespace
                AND i.inhparent = to_regclass(substring(part FROM '^(rollup_[0-9a-z]+)_p'))) THEN
          RAISE EXCEPTION 'not a rollup partition: %', part USING ERRCODE = 'invalid_parameter_value';
        END IF;
        EXECUTE format('DROP TABLE %I', part);
      END $$;
      DO $$
      BEGIN
        EXECUTE format('ALTER FUNCTION rollup_partition_create(text, text, timestamptz, timestamptz) SET search_path = %I, pg_temp', current_schema());
        EXECUTE format('ALTER FUNCTION rollup_partition_drop(text) SET search_path = %I, pg_temp', current_schema());
      END $$;
      REVOKE EXECUTE ON FUNCTION rollup_partition_create(text, text, timestamptz, timestamptz), rollup_partition_drop(text) FROM PUBLIC;
    `,
  },
  {
    // Deleted rows of the relational tables, so an incremental backup (rows by xmin) carries deletes too: before,
    // an alert rule deleted after a full backup came back when the chain was restored. The trigger runs as the
    // function's owner, so the deleting roles need no grant here; a restore replaying the log sets
    // terminusa.restoring and is not logged again. Tables join by a trigger naming their primary-key columns
    // (DELETION_LOGGED_TABLES).
    version: 13,
    sql: `
      CREATE TABLE row_deletions (
        id bigserial PRIMARY KEY,
        table_name text NOT NULL,
        key jsonb NOT NULL,
        deleted_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE FUNCTION record_row_deletion() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER AS $$
      BEGIN
        IF coalesce(current_setting('terminusa.restoring', true), '') <> 'on' THEN
          INSERT INTO row_deletions (table_name, key)
            SELECT TG_TABLE_NAME, jsonb_object_agg(k, to_jsonb(OLD) -> k) FROM unnest(TG_ARGV) AS k;
        END IF;
        RETURN OLD;
      END $$;
      DO $$
      BEGIN
        EXECUTE format('ALTER FUNCTION record_row_deletion() SET search_path = %I, pg_temp', current_schema());
      END $$;
      REVOKE EXECUTE ON FUNCTION record_row_deletion() FROM PUBLIC;
      CREATE TRIGGER alert_rules_deletions AFTER DELETE ON alert_rules FOR EACH ROW EXECUTE FUNCTION record_row_deletion('name');
    `,
  },
  {
    // Any role may set a custom setting, so the gateway's role could have deleted rules unlogged (and a restored
    // chain brought them back) by setting terminusa.restoring itself: only the owner's sessions, which a restore
    // runs as, are heard now. Inside the SECURITY DEFINER function current_user is the owner.
    version: 14,
    sql: `
      CREATE OR REPLACE FUNCTION record_row_deletion() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER AS $$
      BEGIN
        IF coalesce(current_setting('terminusa.restoring', true), '') <> 'on' OR NOT pg_has_role(session_user, current_user, 'MEMBER') THEN
          INSERT INTO row_deletions (table_name, key)
            SELECT TG_TABLE_NAME, jsonb_object_agg(k, to_jsonb(OLD) -> k) FROM unnest(TG_ARGV) AS k;
        END IF;
        RETURN OLD;
      END $$;
    `,
  },
];

/** The schema version this code is written for: the last migration's. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * Creates the schema and applies pending migrations (up to version `upTo`, by default all); replicas starting
 * together wait on one advisory lock.
 */
export async function migrate(pool: pg.Pool, schema: string, upTo = Infinity): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`terminusa-migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => r.version));
    for (const m of MIGRATIONS) {
      if (applied.has(m.version) || m.version > upTo) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [m.version]);
    }
  });
}
