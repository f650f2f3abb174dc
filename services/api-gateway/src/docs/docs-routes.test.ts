import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { route, type RouteSpec } from '../http/route.ts';
import { DOC_PAGES, DocPageParams } from './doc-pages.ts';
import { docsRoutes } from './docs-routes.ts';
import { renderMarkdownPage } from './markdown-page.ts';
import type { OpenApiDocument } from './openapi.ts';

const DOCS_DIR = fileURLToPath(new URL('../../../../docs', import.meta.url));

/** The parts of an express Response the docs handlers use, recording the answer. */
function fakeResponse() {
  const answer: { status: number; type?: string; body?: unknown } = { status: 200 };
  const res = {
    req: { originalUrl: '/docs/setup' },
    status: (s: number) => ((answer.status = s), res),
    type: (t: string) => ((answer.type = t), res),
    json: (b: unknown) => ((answer.body = b), res),
    send: (b: unknown) => ((answer.body = b), res),
  };
  return { res, answer };
}

async function call(spec: RouteSpec, params: Record<string, unknown> = {}) {
  const { res, answer } = fakeResponse();
  await spec.handle({ params, query: {}, body: {}, req: {} as never, res: res as never, principal: undefined });
  return answer;
}

const byPath = (routes: RouteSpec[], path: string) => routes.find((r) => r.path === path)!;
const table: RouteSpec[] = [
  route({ method: 'get', path: '/health', access: 'public', tag: 'health', summary: 'Health', handle: () => undefined }),
  route({ method: 'delete', path: '/things/:id', access: 'admin', tag: 'things', summary: 'Delete <b>a</b> thing', params: z.object({ id: z.string() }), body: z.object({ why: z.string() }), handle: () => undefined }),
];

describe('docsRoutes', () => {
  let built = 0;
  const routes = docsRoutes(() => (built++, [...table, ...routes]), DOCS_DIR);
  const emptyDir = mkdtemp(join(tmpdir(), 'tmon-docs-'));
  afterAll(async () => rm(await emptyDir, { recursive: true, force: true }));

  it('declares its three routes for viewers', () => {
    expect(routes.map((r) => `${r.method} ${r.path} ${r.access}`)).toEqual(['get /docs/api viewer', 'get /docs/api.html viewer', 'get /docs/:page viewer']);
  });

  it('answers the OpenAPI document of the table it is given, built once', async () => {
    const first = await call(byPath(routes, '/docs/api'));
    const second = await call(byPath(routes, '/docs/api'));
    const doc = first.body as OpenApiDocument;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(['/health', '/things/{id}', '/docs/api', '/docs/api.html', '/docs/{page}']);
    expect(doc.paths['/docs/{page}']!.get!.parameters[0]).toMatchObject({ name: 'page', in: 'path', schema: { enum: [...DOC_PAGES] } });
    expect(second.body).toBe(first.body);
    expect(built).toBe(1);
  });

  it('renders every operation on a self-contained HTML page, escaped', async () => {
    const answer = await call(byPath(routes, '/docs/api.html'));
    const html = answer.body as string;
    expect(answer.type).toBe('html');
    for (const text of ['/health', '/things/{id}', '/docs/{page}', 'public', 'admin', 'viewer', 'Delete &lt;b&gt;a&lt;/b&gt; thing', 'setup|admin|dev|architecture|alerting|backup']) expect(html).toContain(text);
    expect(html).not.toMatch(/<script|src=|href="(https?:)?\/\//i);
    expect(built).toBe(1);
  });

  it('renders every docs page from the docs directory', async () => {
    for (const page of DOC_PAGES) {
      const answer = await call(byPath(routes, '/docs/:page'), { page });
      expect(answer.status, page).toBe(200);
      expect(answer.body as string, page).toMatch(/<h1>[^<]+<\/h1>/);
      // Links between pages point at the served pages, not at the markdown files.
      expect(answer.body as string, page).not.toMatch(/href="(setup|admin|dev|architecture|alerting|backup)\.md/);
    }
    expect(await renderMarkdownPage(DOCS_DIR, 'setup')).toContain('href="admin"');
  });

  it('answers 404 as a problem when a page file is missing', async () => {
    const missing = docsRoutes(() => table, await emptyDir);
    const answer = await call(byPath(missing, '/docs/:page'), { page: 'setup' });
    expect(answer).toMatchObject({ status: 404, type: 'application/problem+json', body: { status: 404, title: 'Not Found' } });
  });

  it('accepts only the known page names, so no other file can be read', () => {
    const params = byPath(routes, '/docs/:page').params!;
    expect(params).toBe(DocPageParams);
    for (const page of DOC_PAGES) expect(params.safeParse({ page }).success).toBe(true);
    for (const page of ['unknown', '../package', '..%2F..%2Fetc%2Fpasswd', 'setup.md', 'SETUP', '']) expect(params.safeParse({ page }).success, page).toBe(false);
  });
});
