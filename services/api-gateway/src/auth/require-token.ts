import type { RequestHandler, Response } from 'express';
import type { TokenClaims, TokenService } from './tokens.ts';

/** The verified bearer of the request being answered. */
export function authOf(res: Response): TokenClaims {
  return res.locals.auth as TokenClaims;
}

/** Refuses a request without a valid `Authorization: Bearer` token (401, with `WWW-Authenticate`). */
export function requireToken(tokens: TokenService): RequestHandler {
  return async (req, res, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    if (!match) {
      res.set('WWW-Authenticate', 'Bearer').status(401).json({ error: 'missing bearer token' });
      return;
    }
    try {
      res.locals.auth = await tokens.verify(match[1]!);
      next();
    } catch {
      res.set('WWW-Authenticate', 'Bearer error="invalid_token"').status(401).json({ error: 'invalid or expired token' });
    }
  };
}
