import gatewayPackage from '../../package.json' with { type: 'json' };
import { sendProblem } from '../http/problem.ts';
import { route, type RouteSpec } from '../http/route.ts';
import { renderApiHtml } from './api-html.ts';
import { DocPageParams } from './doc-pages.ts';
import { renderMarkdownPage } from './markdown-page.ts';
import { buildOpenApi, type OpenApiDocument } from './openapi.ts';

/**
 * The served documentation: the OpenAPI document of `routesForSpec()` (built on first request, then kept), the same
 * as an HTML page, and the markdown pages of `docsDir`; all for any signed-in role.
 */
export function docsRoutes(routesForSpec: () => readonly RouteSpec[], docsDir: string): RouteSpec[] {
  // Built lazily: the table handed in usually contains these routes too, so it is complete only after this returns.
  let doc: OpenApiDocument | undefined;
  let html: string | undefined;
  const openApi = () => (doc ??= buildOpenApi(routesForSpec(), { version: gatewayPackage.version }));
  return [
    route({
      method: 'get',
      path: '/docs/api',
      access: 'viewer',
      tag: 'docs',
      summary: 'This API as an OpenAPI 3.1 document',
      responses: { 200: 'the OpenAPI document' },
      handle: ({ res }) => void res.json(openApi()),
    }),
    route({
      method: 'get',
      path: '/docs/api.html',
      access: 'viewer',
      tag: 'docs',
      summary: 'This API as a readable HTML page, operations grouped by tag',
      responses: { 200: 'the HTML page' },
      handle: ({ res }) => void res.type('html').send((html ??= renderApiHtml(openApi()))),
    }),
    route({
      method: 'get',
      path: '/docs/:page',
      access: 'viewer',
      tag: 'docs',
      summary: 'A documentation page (setup, admin, dev, architecture, alerting, backup) as HTML',
      params: DocPageParams,
      responses: { 200: 'the page', 404: 'the page is not installed' },
      async handle({ params, res }) {
        const page = await renderMarkdownPage(docsDir, params.page);
        if (page === undefined) return sendProblem(res, 404, `the ${params.page} page is not installed`);
        res.type('html').send(page);
      },
    }),
  ];
}
