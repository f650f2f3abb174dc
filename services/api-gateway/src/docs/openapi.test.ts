import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { route, type RouteSpec } from '../http/route.ts';
import { alertRoutes } from '../routes/alert-routes.ts';
import { metricsRoutes } from '../routes/metrics-routes.ts';
import { userRoutes } from '../routes/user-routes.ts';
import { buildOpenApi, type OpenApiDocument } from './openapi.ts';

const noop = () => undefined;
const When = z.string().transform((t) => Date.parse(t));
type Tree = { name: string; children?: Tree[] };
const TreeSchema: z.ZodType<Tree> = z.lazy(() => z.object({ name: z.string(), children: z.array(TreeSchema).optional() }));

const ROUTES: RouteSpec[] = [
  route({ method: 'post', path: '/auth/login', access: 'public', tag: 'auth', summary: 'Sign in', body: z.strictObject({ username: z.string(), password: z.string() }), responses: { 200: 'a token', 401: 'wrong password' }, handle: noop }),
  route({
    method: 'get',
    path: '/things/:id',
    access: 'viewer',
    tag: 'things',
    summary: 'One thing',
    params: z.object({ id: z.string().uuid() }),
    query: z.object({ limit: z.coerce.number().int().min(1).default(10), from: When.optional(), name: z.string().describe('exact name') }).refine((q) => q.limit > 0),
    handle: noop,
  }),
  route({
    method: 'post',
    path: '/things',
    access: 'operator',
    tag: 'things',
    summary: 'Create a thing',
    audit: 'thing-create',
    body: z.strictObject({ name: z.string().min(1), size: z.number().optional(), kind: z.enum(['a', 'b']).default('a') }).refine((b) => b.name !== 'x', 'not x'),
    responses: { 201: 'created', 409: 'exists' },
    handle: noop,
  }),
  route({ method: 'delete', path: '/things/:id', access: 'admin', tag: 'admin', summary: 'Delete a thing', responses: { 204: 'deleted' }, handle: noop }),
  route({ method: 'put', path: '/trees/:name', access: 'operator', tag: 'things', summary: 'A recursive body', params: z.object({ name: z.string() }), body: TreeSchema, handle: noop }),
  route({
    method: 'patch',
    path: '/broken',
    access: 'admin',
    tag: 'admin',
    summary: 'A schema zod cannot convert',
    body: z.lazy((): z.ZodType => {
      throw new Error('no schema here');
    }),
    handle: noop,
  }),
];

/** Every local `$ref` of the document, with whether it points at something. */
function refs(doc: unknown): Array<{ ref: string; resolves: boolean }> {
  const found: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === '$ref' && typeof x === 'string') found.push(x);
        else walk(x);
      }
    }
  };
  walk(doc);
  const resolve = (ref: string) => ref.slice(2).split('/').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  return found.map((ref) => ({ ref, resolves: ref.startsWith('#/') && resolve(ref) !== undefined }));
}

describe('buildOpenApi', () => {
  const doc = buildOpenApi(ROUTES, { version: '9.9.9' });

  it('is an OpenAPI 3.1 document with express paths converted and tags from the routes', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toBe('9.9.9');
    expect(Object.keys(doc.paths).sort()).toEqual(['/auth/login', '/broken', '/things', '/things/{id}', '/trees/{name}']);
    expect(Object.keys(doc.paths['/things/{id}']!).sort()).toEqual(['delete', 'get']);
    expect(doc.tags).toEqual([{ name: 'auth' }, { name: 'things' }, { name: 'admin' }]);
    expect(doc.paths['/things/{id}']!.get!.tags).toEqual(['things']);
  });

  it('derives a unique operationId from method and path', () => {
    expect(doc.paths['/things/{id}']!.get!.operationId).toBe('getThingsById');
    expect(doc.paths['/things']!.post!.operationId).toBe('postThings');
    const ids = Object.values(doc.paths).flatMap((p) => Object.values(p).map((o) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('turns params and query into parameters, required as the schema says, from the input side of transforms', () => {
    const params = doc.paths['/things/{id}']!.get!.parameters;
    expect(params.map((p) => [p.name, p.in, p.required])).toEqual([
      ['id', 'path', true],
      ['limit', 'query', false],
      ['from', 'query', false],
      ['name', 'query', true],
    ]);
    expect(params[0]!.schema).toMatchObject({ type: 'string', format: 'uuid' });
    expect(params[1]!.schema).toMatchObject({ type: 'integer', default: 10 });
    expect(params[2]!.schema).toEqual({ type: 'string' });
    expect(params[3]!.description).toBe('exact name');
  });

  it('names a path parameter the route declares no schema for', () => {
    expect(doc.paths['/things/{id}']!.delete!.parameters).toEqual([{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }]);
  });

  it('turns the body into a JSON requestBody with its properties; optional when {} is valid', () => {
    const create = doc.paths['/things']!.post!.requestBody!;
    expect(create.required).toBe(true);
    const schema = create.content['application/json'].schema as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(schema.properties)).toEqual(['name', 'size', 'kind']);
    expect(schema.required).toEqual(['name']);
    expect(schema.properties.kind).toMatchObject({ enum: ['a', 'b'], default: 'a' });
    expect(doc.paths['/auth/login']!.post!.requestBody!.required).toBe(true);
  });

  it('puts security and the role on protected operations and none on public ones', () => {
    const create = doc.paths['/things']!.post!;
    expect(create.security).toEqual([{ bearerAuth: [] }]);
    expect(create['x-required-role']).toBe('operator');
    expect(create.description).toContain('`operator`');
    expect(create['x-audit-action']).toBe('thing-create');
    expect(doc.paths['/things/{id}']!.delete!['x-required-role']).toBe('admin');
    const login = doc.paths['/auth/login']!.post!;
    expect(login.security).toEqual([]);
    expect(login['x-required-role']).toBeUndefined();
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('adds the common problem responses to the route’s own, sharing one Problem schema', () => {
    const create = doc.paths['/things']!.post!.responses;
    expect(Object.keys(create)).toEqual(['201', '400', '401', '403', '409', '429', '500']);
    expect(create['409']).toEqual({ description: 'exists', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });
    expect(create['401']).toEqual({ $ref: '#/components/responses/Unauthorized' });
    expect(doc.paths['/things/{id}']!.get!.responses['200']).toEqual({ description: 'OK' });
    // Public: no 401/403 of its own making, but its declared 401 stays.
    expect(Object.keys(doc.paths['/auth/login']!.post!.responses)).toEqual(['200', '400', '401', '429', '500']);
    expect(doc.components.schemas.Problem).toMatchObject({ properties: { type: {}, title: {}, status: {}, detail: {}, instance: {}, fields: { type: 'array' } } });
    expect(doc.components.responses.BadRequest).toEqual({ description: expect.any(String), content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });
  });

  it('moves recursive definitions into components so every $ref resolves, and survives a schema that cannot convert', () => {
    expect(doc.paths['/trees/{name}']!.put!.requestBody!.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/putTreesByName.body' });
    expect(refs(doc).filter((r) => !r.resolves)).toEqual([]);
    expect(doc.paths['/broken']!.patch!.requestBody!.content['application/json'].schema).toEqual({ description: expect.stringContaining('not representable as JSON Schema') });
  });
});

describe('buildOpenApi on the real route modules', () => {
  const table = [...metricsRoutes({} as never), ...alertRoutes({} as never), ...userRoutes({} as never, {} as never, {} as never)];

  it('describes every route of the table, with every $ref resolving', () => {
    const doc: OpenApiDocument = buildOpenApi(table, { version: '0.1.0' });
    for (const spec of table) {
      const op = doc.paths[spec.path.replace(/:(\w+)/g, '{$1}')]?.[spec.method];
      expect(op, `${spec.method} ${spec.path}`).toBeDefined();
      expect(op!.summary).toBe(spec.summary);
      expect(op!['x-required-role']).toBe(spec.access);
    }
    expect(refs(doc).filter((r) => !r.resolves)).toEqual([]);
    expect(doc.paths['/alerts/{id}/ack']!.post!.parameters).toMatchObject([{ name: 'id', in: 'path', required: true }]);
    expect(doc.paths['/metrics/history']!.get!.parameters.map((p) => p.name)).toEqual(['name', 'from', 'to', 'limit', 'step', 'agg', 'groupBy']);
    expect(Object.keys((doc.paths['/silences']!.post!.requestBody!.content['application/json'].schema as { properties: object }).properties)).toContain('matchers');
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });
});
