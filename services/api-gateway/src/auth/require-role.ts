import type { RequestHandler } from 'express';
import { authOf } from './require-token.ts';
import { ROLES, type Role } from './tokens.ts';

/** Refuses (403) a bearer whose role ranks below `role` (viewer < operator < admin). */
export function requireRole(role: Role): RequestHandler {
  return (_req, res, next) => {
    if (ROLES.indexOf(authOf(res).role) >= ROLES.indexOf(role)) return next();
    res.status(403).json({ error: `this needs the ${role} role` });
  };
}
