import type { Server } from 'node:http';
import express, { Router } from 'express';
import type { Role } from '../src/auth/principal.ts';
import { sendProblem } from '../src/http/problem.ts';
import { mountRoutes, type AuditSink, type RouteSpec } from '../src/http/route.ts';

/** Header a route test names its caller's role in, instead of signing a token. */
export const TEST_ROLE_HEADER = 'x-test-role';

/** Routes served as the gateway mounts them, on a free local port. */
export interface RoutesUnderTest {
  base: string;
  close(): Promise<void>;
}

/**
 * Serves `routes` for a test with the gateway's mounting (access checks, validation, audit), the caller's
 * role taken from the `x-test-role` header: the route tests exercise the routes, not the token handling that
 * gateway-access.test.ts covers.
 */
export async function serveRoutes(routes: RouteSpec[], audit: AuditSink = async () => undefined): Promise<RoutesUnderTest> {
  const app = express();
  app.use(express.json());
  const router = Router();
  mountRoutes(
    router,
    routes,
    async (req, res) => {
      const role = req.get(TEST_ROLE_HEADER) as Role | undefined;
      if (!role) return void sendProblem(res, 401, 'no credential');
      return { kind: 'user', subject: `${role}-user`, role, id: 'test' };
    },
    audit,
  );
  app.use(router);
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return {
    base: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
