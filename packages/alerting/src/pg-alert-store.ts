import type pg from 'pg';
import { describeIssues, type Alert, type AlertHistoryKind } from '@terminusa/bus';
import { withTransaction } from '@terminusa/database';
import { RuleSchema, type Matcher, type Rule } from './rule-schema.ts';

/** One recorded event of an alert's history: a transition, an acknowledgement, a notification or its failure. */
export interface AlertHistoryEvent {
  id: string;
  alertId: string;
  kind: AlertHistoryKind;
  at: number;
  detail: Record<string, unknown>;
}

/** A silence: alerts matching all its matchers notify no one between start and end. */
export interface Silence {
  id: string;
  matchers: Matcher[];
  startsAt: number;
  endsAt: number;
  comment: string;
  createdBy: string;
}

/**
 * An alert's latest state and one event of its history; the event once only. An ended alert (resolved, or inactive:
 * pending that cleared) stays ended: its id is never used again, and an older event replayed after it (a batch
 * retried after a later one committed) showed it pending for ever.
 */
const RECORD_SQL = `WITH a AS (
     INSERT INTO alerts (id, rule, severity, state, summary, message, labels, value, created_at, fired_at, resolved_at, acked_at, acked_by, ack_comment, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, to_timestamp($9 / 1000.0), to_timestamp($10 / 1000.0), to_timestamp($11 / 1000.0), to_timestamp($12 / 1000.0), $13, $14, now())
     ON CONFLICT (id) DO UPDATE SET
       state = CASE WHEN alerts.state IN ('resolved', 'inactive') THEN alerts.state ELSE EXCLUDED.state END,
       summary = EXCLUDED.summary, message = EXCLUDED.message, value = EXCLUDED.value,
       fired_at = COALESCE(alerts.fired_at, EXCLUDED.fired_at), resolved_at = COALESCE(alerts.resolved_at, EXCLUDED.resolved_at),
       acked_at = COALESCE(alerts.acked_at, EXCLUDED.acked_at), acked_by = COALESCE(alerts.acked_by, EXCLUDED.acked_by),
       ack_comment = COALESCE(alerts.ack_comment, EXCLUDED.ack_comment), updated_at = now()
   )
   INSERT INTO alert_events (id, alert_id, kind, at, detail) VALUES ($15, $1, $16, to_timestamp($17 / 1000.0), $18) ON CONFLICT (id) DO NOTHING`;

const recordParams = (alert: Alert, event: AlertHistoryEvent): unknown[] => [
  alert.id, alert.rule, alert.severity, alert.state, alert.summary, alert.message, JSON.stringify(alert.labels), alert.value,
  alert.startsAt, alert.firedAt ?? null, alert.resolvedAt ?? null, alert.ack?.at ?? null, alert.ack?.by ?? null, alert.ack?.comment ?? null,
  event.id, event.kind, event.at, JSON.stringify(event.detail),
];

/** Alert history, rules and silences in PostgreSQL. */
export class PgAlertStore {
  constructor(private readonly pool: pg.Pool) {}

  /** Records the alert's latest state and one event; an event id seen before is ignored, so replays are harmless. */
  async record(alert: Alert, event: AlertHistoryEvent): Promise<void> {
    await this.pool.query(RECORD_SQL, recordParams(alert, event));
  }

  /**
   * Records each (alert, event) as `record` does, in order, in one transaction: a storm of hundreds of alerts costs
   * one commit, not one each, so they reach their notification group together.
   */
  async recordAll(entries: readonly { alert: Alert; event: AlertHistoryEvent }[]): Promise<void> {
    if (entries.length === 0) return;
    if (entries.length === 1) return this.record(entries[0]!.alert, entries[0]!.event);
    // By alert (each one's events keep their order), so two replicas' transactions lock alerts in one order, never a cycle.
    const ordered = [...entries].sort((x, y) => (x.alert.id < y.alert.id ? -1 : x.alert.id > y.alert.id ? 1 : 0));
    await withTransaction(this.pool, async (client) => {
      for (const { alert, event } of ordered) await client.query(RECORD_SQL, recordParams(alert, event));
    });
  }

  /** Adds an event to an alert already recorded (notified, delivery-failed, …). */
  async addEvent(event: AlertHistoryEvent): Promise<void> {
    await this.pool.query('INSERT INTO alert_events (id, alert_id, kind, at, detail) VALUES ($1, $2, $3, to_timestamp($4 / 1000.0), $5) ON CONFLICT (id) DO NOTHING', [
      event.id, event.alertId, event.kind, event.at, JSON.stringify(event.detail),
    ]);
  }

  /** Alerts created in [from, to], newest first, filtered, one page at a time (keyset on created_at, id). */
  async history(q: { from: number; to: number; severity?: string; rule?: string; limit: number; before?: { at: number; id: string } }): Promise<{ alerts: (Alert & { events: AlertHistoryEvent[] })[] }> {
    const { rows } = await this.pool.query(
      `SELECT a.*, round(extract(epoch FROM a.created_at) * 1000)::bigint AS created_ms,
              round(extract(epoch FROM a.fired_at) * 1000)::bigint AS fired_ms,
              round(extract(epoch FROM a.resolved_at) * 1000)::bigint AS resolved_ms,
              round(extract(epoch FROM a.acked_at) * 1000)::bigint AS acked_ms,
              COALESCE((SELECT json_agg(json_build_object('id', e.id, 'kind', e.kind, 'at', round(extract(epoch FROM e.at) * 1000)::bigint, 'detail', e.detail) ORDER BY e.at, e.id)
                          FROM alert_events e WHERE e.alert_id = a.id), '[]') AS events
         FROM alerts a
        WHERE a.created_at BETWEEN to_timestamp($1 / 1000.0) AND to_timestamp($2 / 1000.0)
          AND ($3::text IS NULL OR a.severity = $3) AND ($4::text IS NULL OR a.rule = $4)
          AND ($5::bigint IS NULL OR (a.created_at, a.id) < (to_timestamp($5 / 1000.0), $6::uuid))
        ORDER BY a.created_at DESC, a.id DESC
        LIMIT $7`,
      [q.from, q.to, q.severity ?? null, q.rule ?? null, q.before?.at ?? null, q.before?.id ?? null, q.limit],
    );
    return {
      alerts: rows.map((r) => ({
        id: r.id,
        rule: r.rule,
        severity: r.severity,
        state: r.state,
        labels: r.labels,
        value: r.value,
        summary: r.summary,
        message: r.message,
        startsAt: Number(r.created_ms),
        ...(r.fired_ms ? { firedAt: Number(r.fired_ms) } : {}),
        ...(r.resolved_ms ? { resolvedAt: Number(r.resolved_ms) } : {}),
        ...(r.acked_by ? { ack: { by: r.acked_by, at: Number(r.acked_ms), ...(r.ack_comment ? { comment: r.ack_comment } : {}) } } : {}),
        channels: [],
        events: (r.events as { id: string; kind: AlertHistoryKind; at: string; detail: Record<string, unknown> }[]).map((e) => ({ id: e.id, alertId: r.id, kind: e.kind, at: Number(e.at), detail: e.detail })),
      })),
    };
  }

  /** Every stored rule, with where it came from. */
  async rules(onUnusable: (name: string, reason: string) => void = () => undefined): Promise<{ rule: Rule; source: string; updatedBy: string }[]> {
    const { rows } = await this.pool.query<{ name: string; definition: unknown; source: string; updated_by: string }>('SELECT name, definition, source, updated_by FROM alert_rules ORDER BY name');
    // A rule stored by an earlier version that today's schema refuses (a backtracking-only regex) is left out and
    // reported, rather than failing every rule with it.
    return rows.flatMap((r) => {
      const parsed = RuleSchema.safeParse(r.definition);
      if (parsed.success) return [{ rule: parsed.data, source: r.source, updatedBy: r.updated_by }];
      onUnusable(r.name, describeIssues(parsed.error).map((i) => `${i.field}: ${i.reason}`).join('; '));
      return [];
    });
  }

  /** Creates or replaces an API rule; refuses to overwrite a rule that a rules file defines. */
  async saveRule(rule: Rule, input: unknown, by: string): Promise<'created' | 'updated' | 'file-rule'> {
    const { rows } = await this.pool.query<{ source: string; inserted: boolean }>(
      `INSERT INTO alert_rules (name, definition, source, updated_by) VALUES ($1, $2, 'api', $3)
       ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition, updated_by = EXCLUDED.updated_by, updated_at = now()
         WHERE alert_rules.source = 'api'
       RETURNING source, (xmax = 0) AS inserted`,
      [rule.name, JSON.stringify(input), by],
    );
    if (rows.length === 0) return 'file-rule';
    return rows[0]!.inserted ? 'created' : 'updated';
  }

  /** Deletes an API rule; a file rule is changed in its file. */
  async deleteRule(name: string): Promise<'deleted' | 'missing' | 'file-rule'> {
    const { rows } = await this.pool.query<{ source: string }>("DELETE FROM alert_rules WHERE name = $1 AND source = 'api' RETURNING source", [name]);
    if (rows.length) return 'deleted';
    const exists = await this.pool.query('SELECT 1 FROM alert_rules WHERE name = $1', [name]);
    return exists.rows.length ? 'file-rule' : 'missing';
  }

  /** Makes the stored file rules exactly the rules of the file, in one transaction. */
  async syncFileRules(file: string, rules: { rule: Rule; input: unknown }[]): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      await client.query("DELETE FROM alert_rules WHERE source = 'file' AND NOT (name = ANY($1::text[]))", [rules.map((r) => r.rule.name)]);
      for (const { rule, input } of rules) {
        await client.query(
          `INSERT INTO alert_rules (name, definition, source, updated_by) VALUES ($1, $2, 'file', $3)
           ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition, source = 'file', updated_by = EXCLUDED.updated_by, updated_at = now()
             WHERE alert_rules.definition IS DISTINCT FROM EXCLUDED.definition OR alert_rules.source <> 'file'`,
          [rule.name, JSON.stringify(input), `file:${file}`],
        );
      }
    });
  }

  /** Silences that have not ended. */
  async silences(now = Date.now()): Promise<Silence[]> {
    const { rows } = await this.pool.query(
      `SELECT id, matchers, comment, created_by, round(extract(epoch FROM starts_at) * 1000)::bigint AS starts, round(extract(epoch FROM ends_at) * 1000)::bigint AS ends
         FROM silences WHERE ends_at > to_timestamp($1 / 1000.0) ORDER BY starts_at`,
      [now],
    );
    return rows.map((r) => ({ id: r.id, matchers: r.matchers, startsAt: Number(r.starts), endsAt: Number(r.ends), comment: r.comment, createdBy: r.created_by }));
  }

  /** Stores a new silence. */
  async addSilence(s: Silence): Promise<void> {
    await this.pool.query(
      'INSERT INTO silences (id, matchers, starts_at, ends_at, comment, created_by) VALUES ($1, $2, to_timestamp($3 / 1000.0), to_timestamp($4 / 1000.0), $5, $6)',
      [s.id, JSON.stringify(s.matchers), s.startsAt, s.endsAt, s.comment, s.createdBy],
    );
  }

  /** Ends a silence now; false when there is no such active silence. */
  async expireSilence(id: string, now = Date.now()): Promise<boolean> {
    const { rowCount } = await this.pool.query('UPDATE silences SET ends_at = to_timestamp($2 / 1000.0) WHERE id = $1 AND ends_at > to_timestamp($2 / 1000.0)', [id, now]);
    return (rowCount ?? 0) > 0;
  }
}
