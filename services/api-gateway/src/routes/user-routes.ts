import { z } from 'zod';
import { storableText } from '@terminusa/bus';
import type { PgAuditLog } from '../audit-log.ts';
import { mayAccess, ROLES } from '../auth/principal.ts';
import type { TokenService } from '../auth/tokens.ts';
import type { PgUserStore } from '../auth/user-store.ts';
import { sendProblem } from '../http/problem.ts';
import { route, type RouteSpec } from '../http/route.ts';

const Username = z.string().regex(/^[a-z][a-z0-9._-]{1,63}$/, 'lower-case letters, digits, . _ -; 2 to 64 characters');
const Password = z.string().min(12, 'at least 12 characters').max(1024);
const Role = z.enum(ROLES);
const UserId = z.object({ id: z.string().uuid('a user id') });
const KeyId = z.object({ id: z.string().regex(/^[a-z0-9]{12}$/, 'an API key id') });

/**
 * Users, API keys and the audit log: admins only. A new password, a changed role or disabling a user revokes every
 * token of that user; a revoked API key stops at once, on the live stream too.
 */
export function userRoutes(users: PgUserStore, audit: PgAuditLog, tokens: TokenService): RouteSpec[] {
  return [
    route({ method: 'get', path: '/users', access: 'admin', tag: 'admin', summary: 'List users', handle: async ({ res }) => void res.json({ users: await users.list() }) }),
    route({
      method: 'post',
      path: '/users',
      access: 'admin',
      tag: 'admin',
      summary: 'Create a user',
      audit: 'user-create',
      body: z.strictObject({ username: Username, password: Password, role: Role }),
      responses: { 201: 'created', 409: 'the name is taken' },
      async handle({ body, res }) {
        const user = await users.create(body.username, body.password, body.role);
        if (!user) return sendProblem(res, 409, `user ${body.username} exists`);
        res.status(201).json({ user });
      },
    }),
    route({
      method: 'patch',
      path: '/users/:id',
      access: 'admin',
      tag: 'admin',
      summary: "Change a user's role, disable or enable it, or reset its password; all but enabling sign the user out everywhere",
      audit: 'user-change',
      params: UserId,
      body: z.strictObject({ role: Role.optional(), disabled: z.boolean().optional(), password: Password.optional() }).refine((b) => Object.keys(b).length > 0, 'change something'),
      responses: { 200: 'changed', 404: 'no such user', 409: 'the last enabled admin would be demoted or disabled' },
      async handle({ params, body, res }) {
        // Tokens carry the role they were issued with; none may outlive the password, role or status they were given
        // under. They are ended before the change is made (ended only after it, a failure in between, Redis away, left
        // the change made, its sessions alive and no audit entry; a change refused below has signed the user out, no
        // more) and again after it, for a sign-in that came in between.
        const target = await users.byId(params.id);
        if (!target) return sendProblem(res, 404, `no user ${params.id}`);
        const endsSessions = body.password !== undefined || (body.role !== undefined && body.role !== target.role) || (body.disabled === true && !target.disabled);
        if (endsSessions) await tokens.revokeUser(target.username);
        const changed = await users.update(params.id, body);
        if (!changed) return sendProblem(res, 404, `no user ${params.id}`);
        if (changed === 'last-admin') return sendProblem(res, 409, 'this is the last enabled admin: make another user admin first');
        if (endsSessions) await tokens.revokeUser(target.username);
        // Keys the user made that the user may no longer hold (all of them once disabled): a demoted or disabled admin
        // kept admin access through a key made before, enough to undo the change.
        const now = changed.user;
        const beyond = now.disabled ? [...ROLES] : ROLES.filter((role) => !mayAccess(now.role, role));
        for (const id of await users.revokeApiKeysCreatedBy(target.username, beyond)) await tokens.apiKeyRevoked(id);
        res.json({ user: changed.user });
      },
    }),
    route({
      method: 'get',
      path: '/api-keys',
      access: 'admin',
      tag: 'admin',
      summary: 'List the live API keys (never their secrets), the revoked ones too with `revoked=true`; `lastUsedAt` is written at most once a minute per key, so it may lag a use by up to a minute',
      // Revoked keys stay for the audit trail: listed only when asked, or a CI that makes and revokes a key per run grows the list for ever.
      query: z.object({ revoked: z.enum(['true', 'false']).default('false') }),
      handle: async ({ query, res }) => void res.json({ apiKeys: await users.listApiKeys(query.revoked === 'true') }),
    }),
    route({
      method: 'post',
      path: '/api-keys',
      access: 'admin',
      tag: 'admin',
      summary: 'Create an API key; its secret is in this answer only',
      audit: 'api-key-create',
      // Stored and compared in PostgreSQL, which cannot hold a NUL: refused here rather than failing there with a 500.
      body: z.strictObject({ name: storableText(100, 'API key names').min(1), role: Role }),
      responses: { 201: 'created' },
      async handle({ body, res, principal }) {
        // Made with a key, it is the user's who made that key: demoting or disabling that user revokes it too (recorded
        // under the first key's name, a key made by a key outlived its maker's demotion).
        const owner = principal!.kind === 'user' ? principal!.subject : await users.apiKeyOwner(principal!.id);
        if (owner === undefined) return sendProblem(res, 401, 'the API key making this request is gone');
        const { key, secret } = await users.createApiKey(body.name, body.role, owner);
        res.status(201).json({ apiKey: key, secret });
      },
    }),
    route({
      method: 'delete',
      path: '/api-keys/:id',
      access: 'admin',
      tag: 'admin',
      summary: 'Revoke an API key',
      audit: 'api-key-revoke',
      params: KeyId,
      responses: { 204: 'revoked', 404: 'no such live key' },
      async handle({ params, res }) {
        if (!(await users.revokeApiKey(params.id))) return sendProblem(res, 404, `no live API key ${params.id}`);
        // The API key caches of every replica (this one before the answer) and the live streams hear it here.
        await tokens.apiKeyRevoked(params.id);
        res.status(204).end();
      },
    }),
    route({
      method: 'get',
      path: '/audit',
      access: 'admin',
      tag: 'admin',
      summary: 'The audit log, newest first',
      // actor and action are compared in PostgreSQL, which cannot take a NUL: refused here rather than failing there with a 500.
      query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100), actor: storableText(128, 'actors').optional(), action: storableText(64, 'actions').optional(), before: z.coerce.number().int().positive().optional() }),
      async handle({ query, res }) {
        res.json({ entries: await audit.list({ limit: query.limit, ...(query.actor ? { actor: query.actor } : {}), ...(query.action ? { action: query.action } : {}), ...(query.before ? { beforeId: query.before } : {}) }) });
      },
    }),
  ];
}
