import type { z } from 'zod';
import type { Role } from '../auth/principal.ts';
import type { RouteSpec } from '../http/route.ts';
import { jsonSchemaOf, type JsonSchema } from './json-schema-of.ts';

/** One parameter of an operation, from a route's `params` or `query` schema. */
export interface OpenApiParameter {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  schema: JsonSchema;
  description?: string;
}

/** One operation: a route as OpenAPI describes it, with the role it needs in `x-required-role`. */
export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description: string;
  tags: string[];
  parameters: OpenApiParameter[];
  requestBody?: { required: boolean; content: { 'application/json': { schema: JsonSchema } } };
  responses: Record<string, unknown>;
  security: Array<Record<string, string[]>>;
  'x-required-role'?: Role | 'signed-in';
  'x-audit-action'?: string;
}

/** The OpenAPI 3.1 document of the gateway. */
export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  tags: Array<{ name: string }>;
  paths: Record<string, Partial<Record<RouteSpec['method'], OpenApiOperation>>>;
  components: { schemas: Record<string, JsonSchema>; responses: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

const PROBLEM_REF = '#/components/schemas/Problem';

/** The RFC 9457 problem document every error answer carries (see `sendProblem`). */
const PROBLEM_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'An RFC 9457 problem document.',
  properties: {
    type: { type: 'string', description: 'always `about:blank`: the status says what went wrong' },
    title: { type: 'string', description: 'the status text, e.g. `Bad Request`' },
    status: { type: 'integer' },
    detail: { type: 'string', description: 'what was wrong, for a person' },
    instance: { type: 'string', description: 'the request path' },
    fields: {
      type: 'array',
      description: 'every wrong field of the request, when there are any',
      items: { type: 'object', properties: { field: { type: 'string', description: 'e.g. `samples[3].value`' }, reason: { type: 'string' } }, required: ['field', 'reason'] },
    },
  },
  required: ['type', 'title', 'status', 'detail', 'instance'],
};

const problem = (description: string, headers?: Record<string, unknown>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/problem+json': { schema: { $ref: PROBLEM_REF } } },
});

/** Statuses any route may answer, as shared response components; 401 and 403 apply to routes that need a token. */
const COMMON_RESPONSES = {
  400: { name: 'BadRequest', forPublic: true, response: problem('The request is invalid; `fields` names every wrong field.') },
  401: {
    name: 'Unauthorized',
    forPublic: false,
    response: problem('Missing, invalid, expired or revoked token or API key.', { 'WWW-Authenticate': { schema: { type: 'string' }, description: '`Bearer`' } }),
  },
  403: { name: 'Forbidden', forPublic: false, response: problem("The caller's role is below the one this operation needs.") },
  429: {
    name: 'TooManyRequests',
    forPublic: true,
    response: problem('A rate limit was exceeded.', { 'Retry-After': { schema: { type: 'integer' }, description: 'seconds to wait before retrying' } }),
  },
  500: { name: 'InternalError', forPublic: true, response: problem('An unexpected error; the gateway logs it under the `X-Request-Id` of the answer.') },
} as const;

/** Builds the OpenAPI 3.1 document of `routes`: the same table the gateway mounts, so the document cannot drift from it. */
export function buildOpenApi(routes: readonly RouteSpec[], info: { version: string }): OpenApiDocument {
  const schemas: Record<string, JsonSchema> = { Problem: PROBLEM_SCHEMA };
  const paths: OpenApiDocument['paths'] = {};
  const tags: string[] = [];
  const operationIds = new Set<string>();
  for (const spec of routes) {
    let operationId = operationIdOf(spec);
    for (let n = 2; operationIds.has(operationId); n++) operationId = `${operationIdOf(spec)}${n}`;
    operationIds.add(operationId);
    (paths[openApiPath(spec.path)] ??= {})[spec.method] = operationOf(spec, operationId, schemas);
    if (!tags.includes(spec.tag)) tags.push(spec.tag);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Terminusa Monitoring API',
      version: info.version,
      description: 'The HTTP API of the monitoring suite. Public operations need no token; every other one needs `Authorization: Bearer <token or API key>` with at least the role in its `x-required-role` (viewer < operator < admin; `signed-in`: any role; `producer` API keys may only push samples, which operators and admins may too).',
    },
    tags: tags.map((name) => ({ name })),
    paths,
    components: {
      schemas,
      responses: Object.fromEntries(Object.values(COMMON_RESPONSES).map((c) => [c.name, c.response])),
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A token from `POST /auth/login`, or an API key `tmk_…` (also accepted as `X-API-Key`).' },
      },
    },
  };
}

/** `/alerts/:id/ack` → `/alerts/{id}/ack`. */
function openApiPath(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}

/** `post /alerts/:id/ack` → `postAlertsByIdAck`. */
function operationIdOf(spec: RouteSpec): string {
  const words = spec.path
    .split('/')
    .flatMap((segment) => (segment.startsWith(':') ? ['by', segment.slice(1)] : segment.split(/[^A-Za-z0-9]+/)))
    .filter(Boolean);
  return spec.method + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

function operationOf(spec: RouteSpec, operationId: string, schemas: Record<string, JsonSchema>): OpenApiOperation {
  const role = spec.access === 'public' ? undefined : spec.access;
  const isPublic = role === undefined;
  const pathParams = parametersOf(spec.params, 'path', `${operationId}.params`, schemas);
  // Every `:name` of the path is a required parameter, even when the route declares no schema for it.
  for (const [, name] of spec.path.matchAll(/:(\w+)/g)) if (!pathParams.some((p) => p.name === name)) pathParams.push({ name: name!, in: 'path', required: true, schema: { type: 'string' } });
  const description = [
    role === 'signed-in' ? 'Requires a token or API key of any role.' : role ? `Requires the \`${role}\` role or higher.` : 'Public: needs no token.',
    ...(spec.audit ? [`Recorded in the audit log as \`${spec.audit}\`.`] : []),
  ].join(' ');
  return {
    operationId,
    summary: spec.summary,
    description,
    tags: [spec.tag],
    parameters: [...pathParams, ...parametersOf(spec.query, 'query', `${operationId}.query`, schemas)],
    ...(spec.body ? { requestBody: { required: !acceptsEmptyBody(spec.body), content: { 'application/json': { schema: jsonSchemaOf(spec.body, `${operationId}.body`, schemas) } } } } : {}),
    responses: responsesOf(spec, isPublic),
    security: isPublic ? [] : [{ bearerAuth: [] }],
    ...(role ? { 'x-required-role': role } : {}),
    ...(spec.audit ? { 'x-audit-action': spec.audit } : {}),
  };
}

/** One parameter per property of an object schema; a schema that is not an object (a record, `any`) names none. */
function parametersOf(schema: z.ZodType | undefined, location: 'path' | 'query', name: string, schemas: Record<string, JsonSchema>): OpenApiParameter[] {
  if (!schema) return [];
  const json = jsonSchemaOf(schema, name, schemas);
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set(Array.isArray(json.required) ? (json.required as string[]) : []);
  return Object.entries(properties).map(([property, propertySchema]) => ({
    name: property,
    in: location,
    // OpenAPI requires path parameters to be required.
    required: location === 'path' || required.has(property),
    schema: propertySchema,
    ...(typeof propertySchema.description === 'string' ? { description: propertySchema.description } : {}),
  }));
}

/** The gateway reads a missing body as `{}` (see `mountRoutes`), so a body is optional when `{}` is valid. */
function acceptsEmptyBody(body: z.ZodType): boolean {
  try {
    return body.safeParse({}).success;
  } catch {
    // An async refinement cannot run synchronously; such a body is taken as required.
    return false;
  }
}

function responsesOf(spec: RouteSpec, isPublic: boolean): Record<string, unknown> {
  const own = Object.entries(spec.responses ?? {});
  const responses: Record<string, unknown> = {};
  if (!own.some(([status]) => Number(status) < 300)) responses['200'] = { description: 'OK' };
  for (const [status, description] of own) responses[status] = Number(status) >= 400 ? problem(description) : { description };
  for (const [status, common] of Object.entries(COMMON_RESPONSES)) {
    if (!(status in responses) && (isPublic ? common.forPublic : true)) responses[status] = { $ref: `#/components/responses/${common.name}` };
  }
  return responses;
}
