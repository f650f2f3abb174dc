import type pg from 'pg';
import type { AuditSink } from './http/route.ts';

/** One audited change. */
export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
  address: string;
  requestId: string;
}

/** The audit log in PostgreSQL: every write through the gateway, with who, when, what and from where. */
export class PgAuditLog {
  constructor(private readonly pool: pg.Pool) {}

  /** The sink the route table writes to. */
  readonly record: AuditSink = async (e) => {
    await this.pool.query('INSERT INTO audit_log (actor, action, target, detail, address, request_id) VALUES ($1, $2, $3, $4, $5, $6)', [
      e.actor,
      e.action,
      e.target,
      JSON.stringify(e.detail),
      e.address,
      e.requestId,
    ]);
  };

  /** Newest entries first. */
  async list(q: { limit: number; actor?: string; action?: string; beforeId?: number }): Promise<AuditEntry[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM audit_log WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2) AND ($3::bigint IS NULL OR id < $3)
        ORDER BY id DESC LIMIT $4`,
      [q.actor ?? null, q.action ?? null, q.beforeId ?? null, q.limit],
    );
    return rows.map((r) => ({ id: Number(r.id), at: r.at.toISOString(), actor: r.actor, action: r.action, target: r.target, detail: r.detail, address: r.address, requestId: r.request_id }));
  }
}
