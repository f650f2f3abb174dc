import { Router } from 'express';
import { z } from 'zod';
import type { Credentials } from '../auth/admin-account.ts';
import type { TokenService } from '../auth/tokens.ts';
import { parseOr400 } from '../http/request-errors.ts';

const LoginSchema = z.strictObject({ username: z.string().min(1).max(128), password: z.string().min(1).max(1024) });

/** `POST /auth/login`: exchanges a username and password for a bearer token. */
export function authRoutes(credentials: Credentials, tokens: TokenService): Router {
  const router = Router();
  router.post('/auth/login', async (req, res) => {
    const body = parseOr400(LoginSchema, req.body, res);
    if (!body) return;
    if (!(await credentials.verify(body.username, body.password))) {
      res.status(401).json({ error: 'wrong username or password' });
      return;
    }
    const { token, expiresAt } = await tokens.issue(body.username, 'admin');
    res.json({ token, tokenType: 'Bearer', expiresAt: new Date(expiresAt * 1000).toISOString() });
  });
  return router;
}
