import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/** Whether a request may read `/metrics`, and if not the status and reason to answer. */
export type MetricsAccess = { allowed: true } | { allowed: false; status: 401 | 403; reason: string };

/** Whether `address` (a socket's remote address) is this host's loopback, IPv4, IPv6 or IPv4-mapped. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1';
}

/** SHA-256 of a secret: compared in constant time whatever the lengths. */
const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Who reads a service's metrics: with a token configured, whoever shows it as a bearer token, from anywhere; without
 * one, only this host's loopback, so that a default install exposes its counters to nobody off the host.
 */
export function metricsAccess(token: string | undefined, remoteAddress: string | undefined, authorization: string | undefined): MetricsAccess {
  if (token === undefined) {
    return isLoopback(remoteAddress) ? { allowed: true } : { allowed: false, status: 403, reason: '/metrics answers loopback only until ops.metricsToken (OPS_METRICS_TOKEN) is set' };
  }
  const shown = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
  if (shown !== undefined && timingSafeEqual(digest(shown), digest(token))) return { allowed: true };
  return { allowed: false, status: 401, reason: 'show the ops.metricsToken as a bearer token' };
}
