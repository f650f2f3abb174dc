import { useEffect, useState } from 'preact/hooks';

/** The dashboard's pages; hash routes (`#/alerts`) so no page path collides with an API route such as `/alerts`. */
export const PAGES = ['overview', 'explorer', 'alerts', 'admin'] as const;
/** One page of the dashboard. */
export type Page = (typeof PAGES)[number];

function pageOf(hash: string): Page {
  const name = hash.replace(/^#\/?/, '').split(/[/?]/)[0];
  return PAGES.find((p) => p === name) ?? 'overview';
}

/** The page the location's hash names, following back/forward and link clicks. */
export function useHashRoute(): Page {
  const [page, setPage] = useState<Page>(() => pageOf(location.hash));
  useEffect(() => {
    const onChange = () => setPage(pageOf(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return page;
}
