import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Marked } from 'marked';
import { DOC_PAGES, type DocPage } from './doc-pages.ts';
import { htmlPage } from './html-page.ts';

const PAGE_LINK = /^(?:\.\/)?(?:docs\/)?([a-z-]+)\.md(#.*)?$/;

// The pages link each other as files (`alerting.md`); served, they are `/docs/alerting`.
const markdown = new Marked({
  gfm: true,
  walkTokens(token) {
    if (token.type !== 'link') return;
    const [, page, anchor] = PAGE_LINK.exec(token.href) ?? [];
    if (page && (DOC_PAGES as readonly string[]).includes(page)) token.href = page + (anchor ?? '');
  },
});

/** Renders `<docsDir>/<page>.md` as a complete HTML page; undefined when the file does not exist. */
export async function renderMarkdownPage(docsDir: string, page: DocPage): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(join(docsDir, `${page}.md`), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const title = /^#\s+(.+)$/m.exec(text)?.[1] ?? page;
  return htmlPage(title, `<main>${markdown.parse(text, { async: false })}</main>`);
}
