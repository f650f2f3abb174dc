import { DOC_PAGES } from './doc-pages.ts';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

// Inline style only: the page loads nothing else and runs no script, so it works offline and under helmet's CSP.
const STYLE = `
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:1rem 1.5rem;color:#1d2330}
nav{border-bottom:1px solid #ccd;padding-bottom:.5rem;margin-bottom:1rem}nav a{margin-right:1rem}
code,pre{font:13px/1.4 ui-monospace,monospace;background:#f2f3f7;border-radius:3px}code{padding:0 .2em}pre{padding:.7rem;overflow:auto}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccd;padding:.25rem .5rem;text-align:left;vertical-align:top}
.method{font-weight:700;text-transform:uppercase}.role{color:#6a4c00}.muted{color:#667}`;

/** A complete, self-contained HTML document with the docs navigation. */
export function htmlPage(title: string, body: string): string {
  const nav = [`<a href="api.html">API</a>`, ...DOC_PAGES.map((p) => `<a href="${p}">${p}</a>`)].join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><nav>${nav}</nav>
${body}
</body></html>
`;
}
