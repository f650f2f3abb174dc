import { z } from 'zod';

/** The pages served as `GET /docs/<page>`, each rendered from `<docsDir>/<page>.md`. */
export const DOC_PAGES = ['setup', 'admin', 'dev', 'architecture', 'alerting', 'backup', 'deploy', 'benchmarks', 'dashboard', 'cli', 'remote-write', 'otlp', 'prometheus-api', 'grafana'] as const;
/** One docs page name. */
export type DocPage = (typeof DOC_PAGES)[number];

/** The `:page` path parameter: a known page name only, so no other file can be reached. */
export const DocPageParams = z.object({ page: z.enum(DOC_PAGES) });
