import { z } from 'zod';
import { describeIssues, type AlertTransition, type Notification, type Sample } from '@terminusa/bus';
import type { Role } from '../auth/principal.ts';
import { isMetricPattern, MAX_PATTERN_STARS } from './metric-pattern.ts';

/** Path of the live stream on the gateway's HTTP server. */
export const LIVE_PATH = '/ws';
/** Subprotocol the gateway selects when a client offers it (browsers that pass `bearer.<token>` must offer it too). */
export const LIVE_SUBPROTOCOL = 'tmon.live.v1';
/** Prefix of the subprotocol that carries a credential: `bearer.<token or API key>`. */
export const BEARER_SUBPROTOCOL_PREFIX = 'bearer.';
/** Most metric patterns one connection may hold. */
export const MAX_PATTERNS = 100;

/** Close codes of the live stream (4xxx mirror the HTTP status they stand for). */
export const CLOSE_CODES = {
  goingAway: 1001,
  policyViolation: 1008,
  internalError: 1011,
  tooSlow: 4008,
  /** Bad, expired or revoked credentials, or a session that ended: reconnecting with the same credential will not help. */
  unauthorized: 4401,
  /** The principal has gateway.live.maxConnectionsPerPrincipal connections open on this replica already. */
  tooManyConnections: 4429,
} as const;

const PatternSchema = z
  .string()
  .refine(isMetricPattern, `patterns are metric names ([a-zA-Z0-9_:], at most 200 characters) with at most ${MAX_PATTERN_STARS} '*' wildcards`);

/** `{"type":"auth","token":…}`: a bearer token or `tmk_` API key; the first message of a connection. */
export const AuthMessageSchema = z.strictObject({ type: z.literal('auth'), token: z.string().min(1).max(4096) });

const subscription = <T extends 'subscribe' | 'unsubscribe'>(type: T) =>
  z
    .strictObject({
      type: z.literal(type),
      metrics: z.array(PatternSchema).max(MAX_PATTERNS, `at most ${MAX_PATTERNS} patterns`).optional(),
      alerts: z.boolean().optional(),
    })
    .refine((m) => m.metrics !== undefined || m.alerts !== undefined, 'give `metrics`, `alerts` or both');

/** `{"type":"subscribe","metrics":["system_cpu_*"],"alerts":true}`: adds patterns and/or turns alerts on. */
export const SubscribeMessageSchema = subscription('subscribe');
/** `{"type":"unsubscribe","metrics":[…],"alerts":true}`: removes patterns and/or turns alerts off. */
export const UnsubscribeMessageSchema = subscription('unsubscribe');

/** Any message a client may send. */
export const ClientMessageSchema = z.discriminatedUnion('type', [AuthMessageSchema, SubscribeMessageSchema, UnsubscribeMessageSchema]);
/** A validated client message. */
export type ClientMessage = z.infer<typeof ClientMessageSchema>;

/** Any message the gateway sends. */
export type ServerMessage =
  | { type: 'ready'; subject: string; role: Role; expiresAt?: number }
  | { type: 'subscribed'; metrics: string[]; alerts: boolean }
  | { type: 'samples'; samples: Sample[] }
  | { type: 'alert'; event: AlertTransition }
  | { type: 'notification'; notification: Notification }
  | { type: 'error'; error: string };

/** A client frame parsed and validated, or why it is not a valid message. */
export function parseClientMessage(text: string): { ok: true; message: ClientMessage } | { ok: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: 'messages are JSON text' };
  }
  const result = ClientMessageSchema.safeParse(json);
  if (result.success) return { ok: true, message: result.data };
  return { ok: false, error: describeIssues(result.error).map((i) => `${i.field}: ${i.reason}`).join('; ') };
}

/** A server message as a text frame. */
export function encodeServerMessage(message: ServerMessage): string {
  return JSON.stringify(message);
}
