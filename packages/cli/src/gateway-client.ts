import { z } from 'zod';
import { CliError, ForbiddenError, GatewayUnreachableError, NotAuthenticatedError, NotFoundError, UsageError } from './errors.ts';

/** An RFC 9457 problem document, as the gateway answers every error. */
const ProblemSchema = z.looseObject({
  status: z.number().optional(),
  title: z.string().optional(),
  detail: z.string().optional(),
  code: z.string().optional(),
  fields: z.array(z.object({ field: z.string(), reason: z.string() })).optional(),
});

/** The credential sent with each request, or why there is none (said when a route needs one). */
export type Credential = { token: string } | { missing: string };

/** One request: query parameters (arrays repeat the key), a JSON body, and statuses that are answers rather than errors. */
export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Statuses besides 2xx whose body is the answer (e.g. 503 from `GET /health`). */
  answers?: number[];
  /** Send no credential (public routes). */
  anonymous?: boolean;
}

/** The gateway's HTTP API: every answer validated against its schema, every error turned into a `CliError` with its exit code. */
export class GatewayClient {
  readonly base: URL;

  constructor(
    url: string,
    private readonly credential: Credential,
    private readonly timeoutMs = 60_000,
  ) {
    let base: URL | undefined;
    try {
      base = new URL(url);
    } catch {
      // Reported below with the form expected.
    }
    // `localhost:8080` parses as a URL of scheme "localhost:", so the scheme is checked too.
    if (!base || (base.protocol !== 'http:' && base.protocol !== 'https:')) throw new UsageError(`not an http(s) URL: ${url} (give --url or TMON_URL like http://127.0.0.1:8080)`);
    this.base = base;
  }

  /** GET `path` and parse the answer with `schema`. */
  get<S extends z.ZodType>(path: string, schema: S, options: RequestOptions = {}): Promise<z.infer<S>> {
    return this.request('GET', path, schema, options);
  }

  /** Sends `method path` and parses the answer with `schema` (use `z.unknown()` for an empty 204). */
  async request<S extends z.ZodType>(method: string, path: string, schema: S, options: RequestOptions = {}): Promise<z.infer<S>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (!options.anonymous) {
      if ('missing' in this.credential) throw new NotAuthenticatedError(this.credential.missing);
      headers.authorization = `Bearer ${this.credential.token}`;
    }
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const url = this.url(path, options.query);
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { method, headers, signal: AbortSignal.timeout(this.timeoutMs), ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) });
      // Read here too: the answer can break off (a timeout, a gateway restarting) after its headers came.
      text = await res.text();
    } catch (err) {
      throw new GatewayUnreachableError(`cannot reach the gateway at ${this.base.origin}: ${networkReason(err, this.timeoutMs)}`, err);
    }
    if (!res.ok && !options.answers?.includes(res.status)) throw this.failure(res.status, text, `${method} ${url.pathname}`);
    let json: unknown = undefined;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        throw new CliError(`the gateway at ${this.base.origin} answered ${method} ${url.pathname} with something other than JSON; is --url the gateway?`);
      }
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new CliError(`unexpected answer to ${method} ${url.pathname}: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')} (is tmon as new as the gateway?)`);
    return parsed.data;
  }

  private url(path: string, query: RequestOptions['query'] = {}): URL {
    const url = new URL(path.replace(/^\//, ''), this.base.href.endsWith('/') ? this.base.href : `${this.base.href}/`);
    for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.append(key, String(value));
    return url;
  }

  private failure(status: number, text: string, what: string): CliError {
    let problem: z.infer<typeof ProblemSchema> = {};
    try {
      problem = ProblemSchema.parse(JSON.parse(text));
    } catch {
      // Not a problem document (a proxy's page, say): the status alone has to do.
    }
    const detail = problem.detail ?? problem.title ?? `HTTP ${status}`;
    if (status === 401) return new NotAuthenticatedError(`the gateway refused the credential (${detail})`);
    if (status === 403) return new ForbiddenError(`forbidden: ${detail}`);
    if (status === 404) return new NotFoundError(`not found: ${detail}`);
    if (status === 400 || status === 413) {
      const fields = problem.fields?.map((f) => `\n  ${f.field}: ${f.reason}`).join('') ?? '';
      return new UsageError(`${what} refused: ${detail}${fields}`);
    }
    if (status === 502 || status === 503 || status === 504) return new GatewayUnreachableError(`${what}: ${detail}`);
    return new CliError(`${what} failed (${status}): ${detail}`);
  }
}

/** Why a fetch failed, in words: the system error code when there is one. */
function networkReason(err: unknown, timeoutMs: number): string {
  if (err instanceof DOMException && err.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
