import { escapeHtml, htmlPage } from './html-page.ts';
import type { JsonSchema } from './json-schema-of.ts';
import type { OpenApiDocument, OpenApiOperation } from './openapi.ts';

/** Escapes text and shows its `backticked` parts as code. */
const prose = (text: string) => escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>');

/** Renders the OpenAPI document as one readable page: every operation grouped by tag, with method, path, role, summary and inputs. */
export function renderApiHtml(doc: OpenApiDocument): string {
  const byTag = new Map<string, string[]>(doc.tags.map((t) => [t.name, []]));
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations) as Array<[string, OpenApiOperation]>) byTag.get(op.tags[0]!)?.push(operationRow(method, path, op));
  }
  const sections = [...byTag].map(
    ([tag, rows]) => `<h2 id="${escapeHtml(tag)}">${escapeHtml(tag)}</h2>
<table><thead><tr><th>operation</th><th>role</th><th>does</th><th>inputs</th><th>answers</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>`,
  );
  const body = `<main><h1>${escapeHtml(doc.info.title)} <span class="muted">${escapeHtml(doc.info.version)}</span></h1>
<p>${prose(doc.info.description)}</p>
<p>The same as an OpenAPI 3.1 document: <a href="api"><code>GET /docs/api</code></a>. Errors are <code>application/problem+json</code>
documents (<code>type</code>, <code>title</code>, <code>status</code>, <code>detail</code>, <code>instance</code>, and <code>fields</code> naming each wrong field).</p>
<p>${[...byTag.keys()].map((t) => `<a href="#${escapeHtml(t)}">${escapeHtml(t)}</a>`).join(' · ')}</p>
${sections.join('\n')}
</main>`;
  return htmlPage(doc.info.title, body);
}

function operationRow(method: string, path: string, op: OpenApiOperation): string {
  const inputs = op.parameters.map((p) => `<code>${escapeHtml(p.name)}</code>${p.required ? '' : '?'} <span class="muted">${p.in}, ${escapeHtml(typeOf(p.schema))}</span>`);
  const body = op.requestBody?.content['application/json'].schema;
  if (body) inputs.push(`body${op.requestBody!.required ? '' : '?'}: ${escapeHtml(fieldsOf(body))}`);
  return `<tr id="${escapeHtml(op.operationId)}"><td><span class="method">${escapeHtml(method)}</span> <code>${escapeHtml(path)}</code></td>
<td class="role">${escapeHtml(op['x-required-role'] ?? 'public')}</td><td>${prose(op.summary)}${op['x-audit-action'] ? ` <span class="muted">(audited)</span>` : ''}</td>
<td>${inputs.join('<br>') || '<span class="muted">none</span>'}</td><td>${Object.keys(op.responses).join(' ')}</td></tr>`;
}

/** A short type for people: `string`, `integer`, `full|incremental`, `array`. */
function typeOf(schema: JsonSchema): string {
  if (Array.isArray(schema.enum)) return schema.enum.map(String).join('|');
  if (typeof schema.type === 'string') return schema.type;
  if (Array.isArray(schema.type)) return schema.type.join('|');
  const alternatives = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (Array.isArray(alternatives)) return alternatives.map(typeOf).join('|');
  if (typeof schema.$ref === 'string') return schema.$ref.split('/').at(-1)!;
  return 'any';
}

/** The top-level fields of a body (`name`, `size?`), or its type when it is not an object with known fields. */
function fieldsOf(schema: JsonSchema): string {
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  if (!properties) return typeOf(schema);
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  return Object.keys(properties)
    .map((name) => `${name}${required.has(name) ? '' : '?'}`)
    .join(', ');
}
